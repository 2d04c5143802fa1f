/**
 * `npm run bench:provision`: the provisioning service under load, on the embedded store (LMDB)
 * with every check on: RS256 token verification against the realm's JWKS (fetched over HTTP and
 * cached) on every request, a store transaction per call, the outbox written with each tenant and
 * applied by the worker (a wrapped data key per tenant, local KEK), bus credentials minted with
 * the tier's signing key. The tokens are a real Keycloak's (test/support/keycloak-process.ts, the
 * realm applied as production applies it): USERS users created through the Admin API, each signed
 * in once through the login form, their tokens refreshed with the refresh grant when about to
 * expire; the service verifies them against the realm's JWKS. Keycloak's Admin API is off for the
 * service (PROVISIONING_KEYCLOAK=off: its effects are recorded as skipped), so the figures are the
 * service's own, not Keycloak's.
 *
 * The service runs in a child process (this file with `--serve`, started like `npm run
 * provisioning`), the load generator here, over real HTTP with keep-alive:
 * 1. registration: TENANTS creates (default 20,000) at concurrency CONCURRENCY (default 32);
 * 2. steady load: RATE requests/s (default 200) for SECONDS (default 20), open loop (requests are
 *    sent on schedule whether or not earlier ones finished), a realistic mix: read my tenant,
 *    list mine, limits, usage, create, mint bus credentials.
 * Prints progress lines; the last line is one JSON object:
 * {"register_per_s", "p99_ms_at_200", "rss_mb"} (rss_mb: the service process's peak RSS).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { generateNatsSeeds, publicKeysOf } from "../../services/nats-auth/sign.js";
import { AdminClient, createRegisteredUser, issuerOf, UserSession } from "../support/keycloak-client.js";
import { launchKeycloak } from "../support/keycloak-process.js";
import { percentile } from "./support.js";
import { httpCall, type HttpAnswer } from "../support/provisioning-process.js";

const TENANTS = Number(process.env.BENCH_TENANTS ?? 20_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const USERS = Number(process.env.BENCH_USERS ?? 200);
/** Concurrent user creations and sign-ins while preparing (each hashes a password in Keycloak). */
const SIGN_IN_CONCURRENCY = 8;

async function serve(): Promise<void> {
  const { loadProvisioningConfig } = await import("../../services/provisioning/src/config.js");
  const { startProvisioning } = await import("../../services/provisioning/src/service.js");
  // 100 registrations per user: the per-user caps (USER_LIMITS) are lifted here, and only here, to
  // measure the store and the API rather than the caps (bench:identity registers one tenant per user).
  const { USER_LIMITS } = await import("../../config/tiers.js");
  // The tenants' plan rows go to a real event store (the embedded engine in this process), as in production.
  const { TestEventStore } = await import("../provisioning/event-store.js");
  const { mkdtempSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const eventStore = await TestEventStore.open(mkdtempSync(join(tmpdir(), "bench-provision-events-")));
  const running = await startProvisioning(loadProvisioningConfig(), { host: "127.0.0.1", eventStore, userLimits: { ...USER_LIMITS, activeTenants: Number.MAX_SAFE_INTEGER, tenantsPerDay: Number.MAX_SAFE_INTEGER } });
  process.stdout.write(`READY ${running.port}\n`);
  const stats = setInterval(async () => {
    const outbox = await running.store.transact((tx) => tx.getRange(["o"], { limit: 100_000 }));
    process.stdout.write(`OUTBOX ${outbox.length} applied=${running.worker.applied}\n`);
  }, 1_000);
  process.on("SIGTERM", () => {
    clearInterval(stats);
    void running.stop().then(() => {
      process.stdout.write(`RSS ${process.resourceUsage().maxRSS}\n`);
      process.exit(0);
    });
  });
}


/** One request with a bearer token over the shared keep-alive agent. */
function call(agent: Agent, port: number, method: string, path: string, token: string, body?: unknown): Promise<HttpAnswer> {
  return httpCall(agent, port, method, path, { authorization: `Bearer ${token}` }, body);
}

async function main(): Promise<void> {
  const kcStarted = performance.now();
  const kc = await launchKeycloak();
  const { startMs, applyMs } = await kc.ready;
  console.log(`keycloak ${kc.server.version} ready on ${kc.server.url} after ${(startMs / 1000).toFixed(1)} s, realm applied in ${(applyMs / 1000).toFixed(1)} s`);
  const dir = mkdtempSync(join(tmpdir(), "bench-provision-"));
  const seeds = generateNatsSeeds([]);
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
  writeFileSync(join(dir, "kek"), randomBytes(32).toString("base64"), { mode: 0o600 });
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url), "--serve"], {
    env: {
      ...process.env,
      PROVISIONING_HTTP_PORT: "0",
      PROVISIONING_LOG_LEVEL: "warn",
      PROVISIONING_LMDB_PATH: join(dir, "store"),
      PROVISIONING_OIDC_ISSUER: issuerOf(kc.server),
      PROVISIONING_TOKEN_ISSUER: "https://api.enchanted.test",
      PROVISIONING_KEYCLOAK: "off",
      PROVISIONING_LOCAL_KEK_FILE: join(dir, "kek"),
      PROVISIONING_NATS_SIGNING_KEYS_DIR: dir,
      PROVISIONING_NATS_ACCOUNT: publicKeysOf(seeds).swarmAccount,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let rssKb = 0;
  let outboxLine = "";
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith("READY ")) resolve(Number(line.slice(6)));
      else if (line.startsWith("RSS ")) rssKb = Number(line.slice(4));
      else if (line.startsWith("OUTBOX ")) outboxLine = line;
    });
    child.once("exit", (code) => reject(new Error(`the service exited with ${code} before it was ready`)));
  });
  console.log(`service up on port ${port}; creating and signing in ${USERS} users`);
  const admin = AdminClient.bootstrap(kc.server);
  const users: { session: UserSession; token: string; tenants: string[] }[] = [];
  const signInStarted = performance.now();
  await Promise.all(
    Array.from({ length: SIGN_IN_CONCURRENCY }, async () => {
      while (users.length < USERS) {
        const slot = users.length;
        users.push(undefined as never);
        const session = await UserSession.signIn(kc.server, await createRegisteredUser(admin));
        users[slot] = { session, token: await session.accessToken(), tenants: [] };
        if ((slot + 1) % 100 === 0) console.log(`signed in ${slot + 1}/${USERS} users`);
      }
    }),
  );
  console.log(`${USERS} users created and signed in in ${((performance.now() - signInStarted) / 1000).toFixed(1)} s (Keycloak start included: ${((performance.now() - kcStarted) / 1000).toFixed(1)} s)`);

  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  // Phase 1: registration.
  const started = performance.now();
  let next = 0;
  let created = 0;
  let failures = 0;
  let lastReport = started;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < TENANTS) {
        const i = next++;
        const user = users[i % users.length]!;
        const res = await call(agent, port, "POST", "/v1/tenants", await user.session.accessToken(), { name: `Bench Tenant ${i}`, slug: `bench-${i}` });
        if (res.status === 201) {
          created++;
          user.tenants.push((JSON.parse(res.body) as { tenant: { id: string } }).tenant.id);
        } else failures++;
        const now = performance.now();
        if (now - lastReport > 2_000) {
          lastReport = now;
          console.log(`registered ${created}/${TENANTS} (${Math.round(created / ((now - started) / 1000))}/s), failures ${failures}; ${outboxLine}`);
        }
      }
    }),
  );
  const registerSeconds = (performance.now() - started) / 1000;
  const registerPerS = created / registerSeconds;
  console.log(`registration: ${created} tenants in ${registerSeconds.toFixed(2)} s = ${registerPerS.toFixed(0)}/s, failures ${failures}`);
  if (created !== TENANTS) throw new Error(`only ${created} of ${TENANTS} registrations succeeded`);

  // Let the outbox worker catch up before measuring steady state (it ran concurrently all along).
  const drainStart = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 500));
    console.log(`outbox after registration: ${outboxLine}`);
    if (/^OUTBOX 0 /.test(outboxLine) || performance.now() - drainStart > 120_000) break;
  }
  console.log(`outbox drained ${((performance.now() - drainStart) / 1000).toFixed(1)} s after the last registration`);

  // Phase 2: steady load, open loop. Tokens are refreshed in the background (a refresh grant when
  // less than 90 s are left), never on a measured request's path.
  const refreshAll = async () => {
    for (const u of users) u.token = await u.session.accessToken(90);
  };
  await refreshAll();
  let refreshing = Promise.resolve();
  const refresher = setInterval(() => {
    refreshing = refreshing.then(refreshAll).catch((e: unknown) => console.error(`token refresh: ${String(e)}`));
  }, 30_000);
  // Tenant tokens, selected on first use of a tenant (an issuance is a measured request of its own kind).
  const tenantTokens = new Map<string, string>();
  const tenantCall = async (user: (typeof users)[number], tid: string, method: string, path: string, body?: unknown): Promise<HttpAnswer> => {
    let token = tenantTokens.get(tid);
    if (!token) {
      const selected = await call(agent, port, "POST", `/v1/tenants/${tid}/token`, user.token, {});
      if (selected.status !== 200) return selected;
      token = (JSON.parse(selected.body) as { access_token: string }).access_token;
      tenantTokens.set(tid, token);
    }
    return call(agent, port, method, path, token, body);
  };
  const latencies: number[] = [];
  const byKind: Record<string, number[]> = {};
  const statuses = new Map<number, number>();
  const inflight: Promise<void>[] = [];
  const total = RATE * SECONDS;
  const phaseStart = performance.now();
  let extra = 0;
  for (let i = 0; i < total; i++) {
    const due = phaseStart + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const user = users[Math.floor(Math.random() * users.length)]!;
    const tid = user.tenants[Math.floor(Math.random() * user.tenants.length)]!;
    const r = Math.random();
    let op: Promise<HttpAnswer>;
    let kind: string;
    const fresh = !tenantTokens.has(tid);
    if (r < 0.3) [kind, op] = ["get", tenantCall(user, tid, "GET", `/v1/tenants/${tid}`)];
    else if (r < 0.5) [kind, op] = ["list", call(agent, port, "GET", "/v1/tenants", user.token)];
    else if (r < 0.65) [kind, op] = ["limits", tenantCall(user, tid, "GET", `/v1/tenants/${tid}/limits`)];
    else if (r < 0.75) [kind, op] = ["usage", tenantCall(user, tid, "GET", `/v1/tenants/${tid}/usage`)];
    else if (r < 0.85) [kind, op] = ["select", call(agent, port, "POST", `/v1/tenants/${tid}/token`, user.token, {})];
    else if (r < 0.95) [kind, op] = ["create", call(agent, port, "POST", "/v1/tenants", user.token, { name: "Steady", slug: `steady-${extra++}` })];
    else [kind, op] = ["mint", tenantCall(user, tid, "POST", `/v1/tenants/${tid}/bus-credentials`, {})];
    if (fresh && kind !== "list" && kind !== "create" && kind !== "select") kind = `${kind}+select`;
    // Latency counts from when the request was due (no coordinated omission).
    inflight.push(
      op.then(
        (res) => {
          const ms = performance.now() - due;
          latencies.push(ms);
          (byKind[kind] ??= []).push(ms);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        },
        () => {
          statuses.set(0, (statuses.get(0) ?? 0) + 1);
        },
      ),
    );
    if (i > 0 && i % (RATE * 5) === 0) {
      const sorted = [...latencies].sort((a, b) => a - b);
      console.log(`steady: ${i}/${total} sent, p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`);
    }
  }
  await Promise.all(inflight);
  clearInterval(refresher);
  await refreshing;
  const achieved = total / ((performance.now() - phaseStart) / 1000);
  const sorted = latencies.sort((a, b) => a - b);
  const p99 = percentile(sorted, 99);
  console.log(`steady: ${total} requests at ${achieved.toFixed(0)}/s: p50 ${percentile(sorted, 50).toFixed(2)} ms, p90 ${percentile(sorted, 90).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${sorted[sorted.length - 1]?.toFixed(2)} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
  for (const [kind, list] of Object.entries(byKind)) {
    const s = list.sort((a, b) => a - b);
    console.log(`  ${kind}: ${s.length} requests, p50 ${percentile(s, 50).toFixed(2)} ms, p99 ${percentile(s, 99).toFixed(2)} ms`);
  }
  const bad = [...statuses.keys()].filter((s) => s === 0 || s >= 400);
  if (bad.length > 0) console.log(`WARNING: unexpected statuses ${bad.join(", ")}`);

  agent.destroy();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  await exited;
  await kc.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(JSON.stringify({ register_per_s: Math.round(registerPerS), p99_ms_at_200: Number(p99.toFixed(2)), rss_mb: Math.round(rssKb / 1024) }));
}

if (process.argv.includes("--serve")) {
  void serve();
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
