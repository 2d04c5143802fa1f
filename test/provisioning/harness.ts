/**
 * Starts the provisioning service for a test the way main.ts does (the config loader, real HTTP on
 * a free loopback port, a real LMDB store in a temporary directory), optionally with a
 * fault-injecting store.
 *
 * - Keycloak's Admin API: the run's real Keycloak (test/support/keycloak-global-setup.ts, realm
 *   applied as production applies it), reached through a fault-injecting proxy
 *   ({@link Harness.proxy}); {@link Harness.addUser} creates real users there. With
 *   `keycloak: false` the service runs with PROVISIONING_KEYCLOAK=off.
 * - User access tokens: minted by the local token issuer of test/support/token-issuer.ts
 *   ({@link Harness.tokens}), whose JWKS the service verifies over HTTP; the tests need tokens a real
 *   server will not issue on demand (expired, foreign key, wrong issuer or audience, any roles).
 */
import { parseJsonOr } from "../../services/runtime/json.js";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { generateNatsSeeds, publicKeysOf, type NatsSeeds } from "../../services/nats-auth/sign.js";
import { loadProvisioningConfig, type ProvisioningConfig } from "../../services/provisioning/src/config.js";
import { startProvisioning, type ProvisioningOverrides, type RunningProvisioning } from "../../services/provisioning/src/service.js";
import { FaultyStore, type FaultRates } from "../../services/provisioning/src/store/faults.js";
import { LmdbStore } from "../../services/provisioning/src/store/lmdb.js";
import { LocalTokenIssuer } from "../support/token-issuer.js";
import { AdminClient, createRegisteredUser, keycloakServer, provisioningClientSecret } from "../support/keycloak.js";
import { KeycloakFaultProxy } from "../support/keycloak-fault-proxy.js";

export interface Harness {
  /** The token issuer the service trusts (user access tokens). */
  readonly tokens: LocalTokenIssuer;
  /** The fault-injecting proxy in front of the real Keycloak (undefined with `keycloak: false`). */
  readonly proxy: KeycloakFaultProxy | undefined;
  /** The real Keycloak's admin (bootstrap admin client), for assertions. */
  readonly admin: AdminClient | undefined;
  /** A user: in the real Keycloak when it is on (as registration leaves it), else only a token subject. */
  addUser(): Promise<{ readonly id: string }>;
  readonly svc: RunningProvisioning;
  readonly config: ProvisioningConfig;
  readonly dir: string;
  readonly faulty: FaultyStore | undefined;
  request(method: string, path: string, o?: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; body: unknown; text: string; headers: Headers }>;
  stop(): Promise<void>;
}

/** A directory of freshly generated tier signing-key seeds and the env that points the service at it. */
export function signingKeysEnv(): { env: Record<string, string>; seeds: NatsSeeds; cleanup: () => void } {
  const seeds = generateNatsSeeds([]);
  const dir = mkdtempSync(join(tmpdir(), "provisioning-signing-keys-"));
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
  return {
    env: { PROVISIONING_NATS_SIGNING_KEYS_DIR: dir, PROVISIONING_NATS_ACCOUNT: publicKeysOf(seeds).swarmAccount },
    seeds,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface HarnessOptions {
  readonly faults?: FaultRates;
  readonly env?: Record<string, string>;
  readonly overrides?: ProvisioningOverrides;
  readonly keycloak?: boolean;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const tokens = await LocalTokenIssuer.start();
  const real = o.keycloak === false ? undefined : await keycloakServer();
  const proxy = real ? await KeycloakFaultProxy.start(real.url) : undefined;
  const admin = real ? AdminClient.bootstrap(real) : undefined;
  const dir = mkdtempSync(join(tmpdir(), "provisioning-test-"));
  const secretFile = join(dir, "client-secret");
  writeFileSync(secretFile, real ? provisioningClientSecret(real) : "unused: PROVISIONING_KEYCLOAK=off", { mode: 0o600 });
  const config = loadProvisioningConfig({
    PROVISIONING_HTTP_PORT: "0",
    PROVISIONING_LOG_LEVEL: "silent",
    PROVISIONING_LMDB_PATH: join(dir, "store"),
    PROVISIONING_OIDC_ISSUER: tokens.issuer,
    ...(o.keycloak === false ? { PROVISIONING_KEYCLOAK: "off" } : { PROVISIONING_KEYCLOAK_URL: proxy!.url, PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE: secretFile }),
    ...o.env,
  });
  let faulty: FaultyStore | undefined;
  const overrides: ProvisioningOverrides = { host: "127.0.0.1", log: pino({ level: "silent" }), workerPollMs: 50, workerBackoffMs: 20, ...o.overrides };
  if (o.faults) {
    faulty = new FaultyStore(await LmdbStore.open(join(dir, "store")), o.faults);
    Object.assign(overrides, { store: faulty });
  }
  const svc = await startProvisioning(config, overrides);
  return {
    tokens,
    proxy,
    admin,
    async addUser() {
      return admin ? { id: (await createRegisteredUser(admin)).id } : tokens.addUser();
    },
    svc,
    config,
    dir,
    faulty,
    async request(method, path, r = {}) {
      const headers: Record<string, string> = { ...(r.token ? { authorization: `Bearer ${r.token}` } : {}), ...r.headers };
      let body: string | undefined = r.rawBody;
      if (r.body !== undefined) body = JSON.stringify(r.body);
      if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
      const res = await fetch(`${svc.url}${path}`, { method, headers, body });
      const text = await res.text();
      const parsed = parseJsonOr(text, text);
      return { status: res.status, body: parsed, text, headers: res.headers };
    },
    async stop() {
      await svc.stop();
      if (faulty) await faulty.close().catch(() => undefined);
      await tokens.stop();
      await proxy?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `check` holds (the outbox worker is asynchronous). */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 15_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
