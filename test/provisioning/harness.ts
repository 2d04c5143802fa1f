/**
 * Starts the provisioning service for a test the way main.ts does (the config loader, real HTTP on
 * a free loopback port, a real LMDB store in a temporary directory), optionally with a
 * fault-injecting store.
 *
 * - Keycloak: the run's real server (test/support/keycloak-global-setup.ts, realm applied as
 *   production applies it). {@link Harness.addUser} creates real users there (as registration
 *   leaves them), {@link Harness.token} signs them in through the login form (authorization code
 *   with PKCE) and returns their access token, which the service verifies against the realm's JWKS
 *   over HTTP, as in production. The service's Admin API calls go through a fault-injecting proxy
 *   ({@link Harness.proxy}); with `keycloak: false` the service runs with PROVISIONING_KEYCLOAK=off
 *   (its Keycloak effects recorded as skipped), and tokens still come from the real server.
 * - Event store: the real ClickHouse engine (chdb, ./event-store.ts) in the test's directory, the
 *   service's statements running as the lifecycle user ({@link Harness.events}); a test that opens
 *   its own engine (one per process) hands the service a store on it instead (`eventStore`).
 */
import { parseJsonOr } from "../../services/runtime/json.js";
import { randomBytes } from "node:crypto";
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
import { AdminClient, createRegisteredUser, issuerOf, keycloakServer, provisioningClientSecret, UserSession, type KeycloakTestServer, type RealmUser } from "../support/keycloak.js";
import { REALM_NAME, REALM_ROLES } from "../../services/keycloak-realm/names.js";
import { KeycloakFaultProxy } from "../support/keycloak-fault-proxy.js";
import type { EventStore } from "../../services/provisioning/src/event-store.js";
import { TestEventStore } from "./event-store.js";

export interface Harness {
  /** The run's real Keycloak, whose realm issuer the service trusts. */
  readonly keycloak: KeycloakTestServer;
  /** The realm's issuer URL (`PROVISIONING_OIDC_ISSUER`). */
  readonly issuer: string;
  /** The fault-injecting proxy in front of the real Keycloak (undefined with `keycloak: false`). */
  readonly proxy: KeycloakFaultProxy | undefined;
  /** The real Keycloak's admin (bootstrap admin client), for setup and assertions. */
  readonly admin: AdminClient;
  /** A user in the real Keycloak, as registration leaves it (verified e-mail, a password). */
  addUser(): Promise<RealmUser>;
  /** A user holding the realm role `platform-admin` (granted through the Admin API, as an operator does). */
  addPlatformAdmin(): Promise<RealmUser>;
  /**
   * The user's access token from a real sign-in (one login per user; later calls refresh it when
   * it is about to expire). `refresh: true` takes new tokens now, carrying what changed on the user
   * since (the tenant provisioning wrote). A user with an admin role sets up OTP at that first
   * login, as the realm demands, with an authenticator of the test's own.
   */
  token(user: RealmUser, o?: { refresh?: boolean }): Promise<string>;
  /** Creates a tenant as `user` (a fresh slug unless given) and returns its id. */
  createTenant(user: RealmUser, o?: { name?: string; slug?: string }): Promise<string>;
  /** A tenant token for `user` in `tenantId` (`POST /v1/tenants/{id}/token` with the user's token). */
  tenantToken(user: RealmUser, tenantId: string): Promise<string>;
  readonly svc: RunningProvisioning;
  /** The harness's own event store (undefined when the test handed in one, or none). */
  readonly events: TestEventStore | undefined;
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

/** `PROVISIONING_TOKEN_ISSUER` of the tests: the `iss` of their tenant tokens. */
export const TEST_TOKEN_ISSUER = "https://api.enchanted.test";

export interface HarnessOptions {
  readonly faults?: FaultRates;
  readonly env?: Record<string, string>;
  readonly overrides?: ProvisioningOverrides;
  readonly keycloak?: boolean;
  /** The billing webhook's signing secrets (PROVISIONING_BILLING_WEBHOOK_SECRET_FILE, one per line). @default - none: the webhook answers 503 */
  readonly billingSecrets?: readonly string[];
  /** The service's event store: `false` = none (plan rows and deletions wait). @default - a {@link TestEventStore} in the test's directory */
  readonly eventStore?: EventStore | false;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const keycloak = await keycloakServer();
  const real = o.keycloak === false ? undefined : keycloak;
  const proxy = real ? await KeycloakFaultProxy.start(real.url) : undefined;
  const admin = AdminClient.bootstrap(keycloak);
  const sessions = new Map<string, UserSession>();
  const dir = mkdtempSync(join(tmpdir(), "provisioning-test-"));
  const secretFile = join(dir, "client-secret");
  const billingFile = join(dir, "billing-secret");
  if (o.billingSecrets) writeFileSync(billingFile, `${o.billingSecrets.join("\n")}\n`, { mode: 0o600 });
  writeFileSync(secretFile, real ? provisioningClientSecret(real) : "unused: PROVISIONING_KEYCLOAK=off", { mode: 0o600 });
  const config = loadProvisioningConfig({
    PROVISIONING_HTTP_PORT: "0",
    PROVISIONING_LOG_LEVEL: "silent",
    PROVISIONING_LMDB_PATH: join(dir, "store"),
    PROVISIONING_OIDC_ISSUER: issuerOf(keycloak),
    PROVISIONING_TOKEN_ISSUER: TEST_TOKEN_ISSUER,
    ...(o.keycloak === false ? { PROVISIONING_KEYCLOAK: "off" } : { PROVISIONING_KEYCLOAK_URL: proxy!.url, PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE: secretFile }),
    ...(o.billingSecrets ? { PROVISIONING_BILLING_WEBHOOK_SECRET_FILE: billingFile } : {}),
    ...o.env,
  });
  let faulty: FaultyStore | undefined;
  const events = o.eventStore === undefined ? await TestEventStore.open(join(dir, "chdb")) : undefined;
  const eventStore = o.eventStore === false ? undefined : (o.eventStore ?? events);
  const overrides: ProvisioningOverrides = { host: "127.0.0.1", log: pino({ level: "silent" }), workerPollMs: 50, workerBackoffMs: 20, historyDeletionGraceMs: 0, ...(eventStore ? { eventStore } : {}), ...o.overrides };
  if (o.faults) {
    faulty = new FaultyStore(await LmdbStore.open(join(dir, "store")), o.faults);
    Object.assign(overrides, { store: faulty });
  }
  const svc = await startProvisioning(config, overrides);
  const call = async (method: string, path: string, r: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...(r.token ? { authorization: `Bearer ${r.token}` } : {}), ...r.headers };
    let body: string | undefined = r.rawBody;
    if (r.body !== undefined) body = JSON.stringify(r.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
    const res = await fetch(`${svc.url}${path}`, { method, headers, body });
    const text = await res.text();
    const parsed = parseJsonOr(text, text);
    return { status: res.status, body: parsed, text, headers: res.headers };
  };
  const token = async (user: RealmUser, t: { refresh?: boolean } = {}) => {
    let session = sessions.get(user.id);
    if (!session) {
      session = await UserSession.signIn(keycloak, user, { totp: {} });
      sessions.set(user.id, session);
      return session.accessToken();
    }
    return t.refresh ? session.refresh() : session.accessToken();
  };
  return {
    keycloak,
    issuer: issuerOf(keycloak),
    proxy,
    admin,
    addUser: () => createRegisteredUser(admin),
    async addPlatformAdmin() {
      const user = await createRegisteredUser(admin);
      const role = await admin.get<{ id: string; name: string }>(`/${REALM_NAME}/roles/${REALM_ROLES.platformAdmin}`);
      const granted = await admin.call("POST", `/${REALM_NAME}/users/${user.id}/role-mappings/realm`, [role]);
      if (granted.status !== 204) throw new Error(`grant ${REALM_ROLES.platformAdmin}: ${granted.status} ${granted.text}`);
      return user;
    },
    token,
    async createTenant(user, t = {}) {
      const slug = t.slug ?? `t-${randomBytes(6).toString("hex")}`;
      const res = await call("POST", "/v1/tenants", { token: await token(user), body: { name: t.name ?? slug, slug } });
      if (res.status !== 201) throw new Error(`create tenant ${slug}: ${res.status} ${res.text}`);
      return (res.body as { tenant: { id: string } }).tenant.id;
    },
    async tenantToken(user, tenantId) {
      const res = await call("POST", `/v1/tenants/${tenantId}/token`, { token: await token(user) });
      if (res.status !== 200) throw new Error(`tenant token for ${tenantId}: ${res.status} ${res.text}`);
      return (res.body as { access_token: string }).access_token;
    },
    svc,
    events,
    config,
    dir,
    faulty,
    request: call,
    async stop() {
      await svc.stop();
      await events?.close();
      if (faulty) await faulty.close().catch(() => undefined);
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
