/**
 * `npm run bench:identity`: identity at scale, with a real Keycloak (started for it, realm applied
 * as production applies it) and the provisioning service over real HTTP. Last line one JSON object:
 * `{"register_per_s","keycloak_create_per_s","ratio","tenant_token_p99_ms","keycloak_token_p99_ms"}`.
 *
 * 1. Bare Keycloak: `BENCH_BARE` users created through the Admin API with a password (the user and
 *    its password hash: what Keycloak's own registration writes), `BENCH_CONCURRENCY` at a time.
 * 2. Keycloak's own sign-up, the same number at the same concurrency: the registration form, the
 *    verification mail and link, the code exchange, nothing of the platform (what a sign-up costs
 *    Keycloak, beside the bare creation: the part of the ratio the platform does not own).
 * 3. Full registrations, the same number at the same concurrency: a person signs up through the
 *    realm's registration form, Keycloak mails the verification link (to a real SMTP server on
 *    loopback), the link is opened, the authorization code exchanged; then `POST /v1/tenants`
 *    (tenant, owner membership), a tenant token, a bus credential; the run ends when the outbox has
 *    applied every effect (data key, the owner's realm role in Keycloak). `ratio` = full / bare.
 * 4. Tenant-token issuance with `BENCH_MEMBERSHIPS` (100,000) memberships in the store: as many
 *    tenants with their owner memberships created through the control plane's transactions (a
 *    second service on its own store, outbox worker off, per-user caps lifted for the load only),
 *    then `BENCH_TOKENS` issuances over HTTP for random (user, tenant) pairs, one at a time: p99.
 * 5. Keycloak token issuance with `BENCH_REALM_USERS` (10,000) users in the realm: refresh-token
 *    grants of signed-in users, `BENCH_TOKENS` of them, one at a time: p99.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { PLAN_TIER_NAMES, USER_LIMITS } from "../../config/tiers.js";
import { REALM_NAME, WEB_CLIENT_ID } from "../../services/keycloak-realm/names.js";
import { generateNatsSeeds, publicKeysOf } from "../../services/nats-auth/sign.js";
import { loadProvisioningConfig } from "../../services/provisioning/src/config.js";
import { startProvisioning, type RunningProvisioning } from "../../services/provisioning/src/service.js";
import { AdminClient, claimsOf, issuerOf, provisioningClientSecret } from "../support/keycloak-client.js";
import { launchKeycloak } from "../support/keycloak-process.js";
import { pointRealmMailAt, registerThroughForm, type Registered } from "../support/keycloak-registration.js";
import { SmtpCatcher } from "../support/smtp-catcher.js";
import { httpCall, type HttpAnswer } from "../support/provisioning-process.js";
import { TestEventStore } from "../provisioning/event-store.js";
import { percentile, progressOf, runBench } from "./support.js";

const BARE = Number(process.env.BENCH_BARE ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const MEMBERSHIPS = Number(process.env.BENCH_MEMBERSHIPS ?? 100_000);
const REALM_USERS = Number(process.env.BENCH_REALM_USERS ?? 10_000);
const TOKENS = Number(process.env.BENCH_TOKENS ?? 2_000);
const progress = progressOf("identity");


/** One request with a bearer token over the shared keep-alive agent. */
function call(agent: Agent, port: number, method: string, path: string, token: string, body?: unknown): Promise<HttpAnswer> {
  return httpCall(agent, port, method, path, { authorization: `Bearer ${token}` }, body);
}

/** Runs `count` jobs `concurrency` at a time; returns the wall time in seconds. */
async function pool(count: number, concurrency: number, job: (i: number) => Promise<void>, label: string): Promise<number> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  let reported = started;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        await job(next++);
        done++;
        if (performance.now() - reported > 5_000) {
          reported = performance.now();
          progress(`${label}: ${done}/${count} (${(done / ((reported - started) / 1000)).toFixed(0)}/s)`);
        }
      }
    }),
  );
  return (performance.now() - started) / 1000;
}

/** Latencies (ms, ascending) of `count` calls of `op`, `concurrency` at a time. */
async function latencies(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  await pool(count, concurrency, async (i) => {
    const t = performance.now();
    await op(i);
    out.push(performance.now() - t);
  }, "timed calls");
  return out.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const kc = await launchKeycloak();
  const dir = mkdtempSync(join(tmpdir(), "bench-identity-"));
  const smtp = await SmtpCatcher.start();
  const services: RunningProvisioning[] = [];
  try {
    const { startMs, applyMs } = await kc.ready;
    progress(`keycloak ${kc.server.version} ready after ${(startMs / 1000).toFixed(1)} s, realm applied in ${(applyMs / 1000).toFixed(1)} s`);
    const admin = AdminClient.bootstrap(kc.server);
    await pointRealmMailAt(admin, smtp);
    const seeds = generateNatsSeeds([]);
    for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
    writeFileSync(join(dir, "kek"), randomBytes(32).toString("base64"), { mode: 0o600 });
    writeFileSync(join(dir, "client-secret"), provisioningClientSecret(kc.server), { mode: 0o600 });
    const env = (store: string, keycloak: boolean) =>
      loadProvisioningConfig({
        PROVISIONING_HTTP_PORT: "0",
        PROVISIONING_LOG_LEVEL: "warn",
        PROVISIONING_LMDB_PATH: join(dir, store),
        PROVISIONING_OIDC_ISSUER: issuerOf(kc.server),
        PROVISIONING_TOKEN_ISSUER: "https://api.enchanted.test",
        PROVISIONING_LOCAL_KEK_FILE: join(dir, "kek"),
        PROVISIONING_NATS_SIGNING_KEYS_DIR: dir,
        PROVISIONING_NATS_ACCOUNT: publicKeysOf(seeds).swarmAccount,
        ...(keycloak ? { PROVISIONING_KEYCLOAK_URL: kc.server.url, PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE: join(dir, "client-secret") } : { PROVISIONING_KEYCLOAK: "off" }),
      });
    const log = pino({ level: "warn" });
    // The tenants' plan rows go to a real event store (the embedded engine), as in production.
    const eventStore = await TestEventStore.open(join(dir, "events"));
    const svc = await startProvisioning(env("store", true), { host: "127.0.0.1", log, eventStore });
    services.push(svc);
    const agent = new Agent({ keepAlive: true, maxSockets: 64 });

    // 1. Bare Keycloak user creation.
    const bareSeconds = await pool(BARE, CONCURRENCY, async (i) => {
      const email = `bare-${i}-${randomBytes(4).toString("hex")}@example.com`;
      const res = await admin.call("POST", `/${REALM_NAME}/users`, { username: email, email, emailVerified: true, enabled: true, credentials: [{ type: "password", value: `pw-${randomBytes(12).toString("base64url")}`, temporary: false }] });
      if (res.status !== 201) throw new Error(`create user: ${res.status} ${res.text}`);
    }, "bare Keycloak users");
    const keycloakCreatePerS = BARE / bareSeconds;
    progress(`bare: ${BARE} users in ${bareSeconds.toFixed(2)} s = ${keycloakCreatePerS.toFixed(1)}/s`);

    // 2. Keycloak's sign-up alone.
    const signupSeconds = await pool(BARE, CONCURRENCY, async () => {
      await registerThroughForm(kc.server, smtp);
    }, "Keycloak sign-ups");
    const keycloakSignupPerS = BARE / signupSeconds;
    progress(`Keycloak sign-up alone: ${BARE} in ${signupSeconds.toFixed(2)} s = ${keycloakSignupPerS.toFixed(1)}/s (${(keycloakSignupPerS / keycloakCreatePerS).toFixed(2)} of bare creation)`);

    // 3. Full registrations.
    const registered: (Registered & { userId: string; tenantId: string })[] = [];
    const fullStarted = performance.now();
    await pool(BARE, CONCURRENCY, async () => {
      const person = await registerThroughForm(kc.server, smtp);
      const token = person.tokens.access_token;
      const created = await call(agent, svc.port, "POST", "/v1/tenants", token, { name: "Signup", slug: `signup-${randomBytes(6).toString("hex")}` });
      if (created.status !== 201) throw new Error(`create tenant: ${created.status} ${created.body}`);
      const tenantId = (JSON.parse(created.body) as { tenant: { id: string } }).tenant.id;
      const selected = await call(agent, svc.port, "POST", `/v1/tenants/${tenantId}/token`, token, {});
      if (selected.status !== 200) throw new Error(`tenant token: ${selected.status} ${selected.body}`);
      const creds = await call(agent, svc.port, "POST", `/v1/tenants/${tenantId}/bus-credentials`, (JSON.parse(selected.body) as { access_token: string }).access_token, {});
      if (creds.status !== 201) throw new Error(`bus credentials: ${creds.status} ${creds.body}`);
      registered.push({ ...person, userId: String(claimsOf(token).sub), tenantId });
    }, "full registrations");
    const apiDone = performance.now();
    for (;;) {
      const pending = await svc.store.transact((tx) => tx.getRange(["o"], { limit: 1 }));
      if (pending.length === 0) break;
      if (performance.now() - apiDone > 300_000) throw new Error("the outbox did not drain within 5 minutes");
      await new Promise((r) => setTimeout(r, 100));
    }
    const fullSeconds = (performance.now() - fullStarted) / 1000;
    const registerPerS = BARE / fullSeconds;
    progress(`full: ${BARE} registrations in ${fullSeconds.toFixed(2)} s = ${registerPerS.toFixed(1)}/s (outbox drained ${((performance.now() - apiDone) / 1000).toFixed(2)} s after the last API answer); ratio ${(registerPerS / keycloakCreatePerS).toFixed(2)} of bare creation, ${(registerPerS / keycloakSignupPerS).toFixed(2)} of Keycloak's sign-up alone`);
    for (const r of registered.slice(0, 5)) {
      const t = await svc.plane.tenant(r.tenantId);
      if (t?.dataKey !== "ready") throw new Error(`tenant ${r.tenantId} has no data key after the drain`);
    }

    // 4. Tenant tokens with MEMBERSHIPS memberships in the store.
    const loaded = await startProvisioning(env("store-100k", false), {
      host: "127.0.0.1",
      log,
      worker: false,
      userLimits: { ...USER_LIMITS, activeTenants: Number.MAX_SAFE_INTEGER, tenantsPerDay: Number.MAX_SAFE_INTEGER },
    });
    services.push(loaded);
    const owners = registered.slice(0, Math.min(100, registered.length));
    const owned: string[][] = owners.map(() => []);
    const loadSeconds = await pool(MEMBERSHIPS, 32, async (i) => {
      const o = i % owners.length;
      const answer = await loaded.plane.createTenant({ userId: owners[o]!.userId, name: `Loaded ${i}`, slug: `loaded-${i}`, requestId: `load-${i}` });
      owned[o]!.push((answer.body as { tenant: { id: string } }).tenant.id);
    }, "memberships loaded");
    progress(`loaded ${MEMBERSHIPS} tenants with their owner memberships in ${loadSeconds.toFixed(1)} s (${(MEMBERSHIPS / loadSeconds).toFixed(0)}/s)`);
    const tenantTokenMs = await latencies(TOKENS, 1, async () => {
      const o = Math.floor(Math.random() * owners.length);
      const list = owned[o]!;
      const res = await call(agent, loaded.port, "POST", `/v1/tenants/${list[Math.floor(Math.random() * list.length)]}/token`, owners[o]!.tokens.access_token, {});
      if (res.status !== 200) throw new Error(`tenant token: ${res.status} ${res.body}`);
    });
    const tenantTokenP99 = percentile(tenantTokenMs, 99);
    progress(`tenant token with ${MEMBERSHIPS} memberships: p50 ${percentile(tenantTokenMs, 50).toFixed(2)} ms, p99 ${tenantTokenP99.toFixed(2)} ms`);

    // 5. Keycloak tokens with REALM_USERS users in the realm.
    const have = await admin.get<number>(`/${REALM_NAME}/users/count`);
    if (!Number.isInteger(have)) throw new Error(`the realm's user count is not a number: ${String(have)}`);
    const missing = Math.max(0, REALM_USERS - have);
    const fillSeconds = await pool(missing, 16, async (i) => {
      const email = `filler-${i}-${randomBytes(4).toString("hex")}@example.com`;
      const res = await admin.call("POST", `/${REALM_NAME}/users`, { username: email, email, emailVerified: true, enabled: true });
      if (res.status !== 201) throw new Error(`create user: ${res.status} ${res.text}`);
    }, "realm users");
    progress(`realm filled to ${have + missing} users (${missing} more in ${fillSeconds.toFixed(1)} s)`);
    const refresh = owners.map((o) => o.tokens.refresh_token ?? "");
    const tokenUrl = `${issuerOf(kc.server)}/protocol/openid-connect/token`;
    const keycloakTokenMs = await latencies(TOKENS, 1, async (i) => {
      const k = i % refresh.length;
      const res = await fetch(tokenUrl, { method: "POST", body: new URLSearchParams({ grant_type: "refresh_token", client_id: WEB_CLIENT_ID, refresh_token: refresh[k]! }) });
      const body = (await res.json()) as { refresh_token?: string; error?: string };
      if (res.status !== 200 || !body.refresh_token) throw new Error(`refresh grant: ${res.status} ${JSON.stringify(body)}`);
      refresh[k] = body.refresh_token;
    });
    const keycloakTokenP99 = percentile(keycloakTokenMs, 99);
    progress(`keycloak token (refresh grant) with ${have + missing} users: p50 ${percentile(keycloakTokenMs, 50).toFixed(2)} ms, p99 ${keycloakTokenP99.toFixed(2)} ms`);
    agent.destroy();

    console.log(
      JSON.stringify({
        register_per_s: Number(registerPerS.toFixed(1)),
        keycloak_create_per_s: Number(keycloakCreatePerS.toFixed(1)),
        ratio: Number((registerPerS / keycloakCreatePerS).toFixed(2)),
        keycloak_signup_per_s: Number(keycloakSignupPerS.toFixed(1)),
        signup_ratio: Number((registerPerS / keycloakSignupPerS).toFixed(2)),
        tenant_token_p99_ms: Number(tenantTokenP99.toFixed(2)),
        keycloak_token_p99_ms: Number(keycloakTokenP99.toFixed(2)),
      }),
    );
  } finally {
    for (const s of services) await s.stop().catch(() => undefined);
    await smtp.stop();
    await kc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
