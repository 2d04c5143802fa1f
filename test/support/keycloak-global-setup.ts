/**
 * vitest globalSetup: one real Keycloak per test run, shared by every test file
 * (test/support/keycloak-process.ts starts it and applies the realm as production does).
 *
 * Test files get the URL and credentials through `inject("keycloak")` and wait for
 * {@link KeycloakTestServer.statusFile} (test/support/keycloak.ts): the server starts while the
 * other files already run, so the start adds little to the wall time of `npm test`.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { launchKeycloak, type KeycloakServer } from "./keycloak-process.js";

export interface KeycloakTestServer extends KeycloakServer {
  /** Written once the realm is applied: `{ ok: true, startMs, applyMs }` or `{ ok: false, error }`. */
  readonly statusFile: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    keycloak: KeycloakTestServer;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const running = await launchKeycloak();
  const dir = mkdtempSync(join(tmpdir(), "keycloak-status-"));
  const server: KeycloakTestServer = { ...running.server, statusFile: join(dir, "status.json") };
  // Once the run is over (a short run can end before Keycloak is ready), nobody reads the status
  // and its directory is gone: writing it then would crash the runner and fail a passing run.
  let stopped = false;
  const record = (status: Record<string, unknown>) => {
    if (!stopped) writeFileSync(server.statusFile, JSON.stringify(status));
  };
  // Not awaited: the other test files run meanwhile; Keycloak's files wait for the status file.
  running.ready.then(
    ({ startMs, applyMs }) => {
      console.log(`keycloak ${server.version}: ready on ${server.url} after ${(startMs / 1000).toFixed(1)} s, realm applied in ${(applyMs / 1000).toFixed(1)} s`);
      record({ ok: true, startMs, applyMs });
    },
    (e: unknown) => record({ ok: false, error: String(e instanceof Error ? e.message : e) }),
  );
  project.provide("keycloak", server);

  return async () => {
    stopped = true;
    const stopping = Date.now();
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
    console.log(`keycloak ${server.version}: stopped in ${((Date.now() - stopping) / 1000).toFixed(1)} s`);
  };
}
