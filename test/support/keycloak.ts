/**
 * The real Keycloak of the test run (test/support/keycloak-global-setup.ts): waiting for it; and
 * (re-exported from test/support/keycloak-client.ts) an admin client for assertions and the
 * browser's side of the realm, the way the web app's users go through it.
 */
import { existsSync, readFileSync } from "node:fs";
import { inject } from "vitest";
import type { KeycloakTestServer } from "./keycloak-global-setup.js";

export type { KeycloakTestServer } from "./keycloak-global-setup.js";
export * from "./keycloak-client.js";

/** How long a test file's `beforeAll` may wait for the shared server (it starts with the run). */
export const KEYCLOAK_WAIT_MS = 300_000;

/** The shared Keycloak, once it runs with the realm applied. */
export async function keycloakServer(timeoutMs = KEYCLOAK_WAIT_MS - 5_000): Promise<KeycloakTestServer> {
  const server = inject("keycloak");
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(server.statusFile)) {
    if (Date.now() > deadline) throw new Error(`Keycloak (${server.url}) was not ready after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const status = JSON.parse(readFileSync(server.statusFile, "utf8")) as { ok: boolean; error?: string };
  if (!status.ok) throw new Error(`Keycloak did not start or the realm did not apply: ${status.error}`);
  return server;
}

