/**
 * The agents' loop, end to end, on real components: a nats-server running the data-plane
 * configuration (operator mode, the resolver, the generated claims, the streams and consumers),
 * the provisioning service pushing tenant accounts and answering the platform bus, the ingestor on
 * the real ClickHouse engine (chdb), and a worker of the free tier. Nothing is mocked; only the
 * credentials answer's `api` is pointed at the service's loopback address, because the test
 * harness's token issuer is a name, not an address.
 *
 * 1. Credentials from the API, used only through the SDK: 10,000 events land in ClickHouse once;
 *    another tenant's subjects are refused; a revoked credential stops publishing within
 *    BUS_REVOCATION_SECONDS.
 * 2. A tenant with payload encryption: its events land with `is_encrypted` and sealed text, the
 *    tenant opens them with its own credentials, and after offboarding nobody can; then its
 *    history is deleted (plan row offboarded, no event or usage row, no stream message left) and
 *    the other tenant keeps every row.
 * 3. A job submitted through the API is run by the free tier's worker with the tenant's scoped
 *    credentials and its decision lands; a failing job ends in SWARM_JOBS_DLQ after max_deliver;
 *    a job a tenant files naming another tenant is dead-lettered without running.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fromBinary } from "@bufbuild/protobuf";
import type { ClickHouseClient } from "@clickhouse/client";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, jwtAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { createTopology } from "../../services/nats-auth/topology.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { AgentClient, credentialsFromAnswer, CredentialsRejectedError, DataKeyClient, decision, KeyServiceError, openEvent, PermissionDeniedError, signal, stateChange, stateHashOf, type AgentCredentials, type SwarmEvent } from "../../sdk/index.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { JOB_DEAD_LETTER_STREAM, STREAM_NAMES, jobSubject, storedEventSubject, workerConsumerName } from "../../services/nats-auth/jetstream-names.js";
import { AUTH_INCLUDE_FILE } from "../../services/nats-auth/server-config.js";
import { generateNatsSeeds, mintPlatformUser, mintProvisioningBusUser, mintSystemUser, mintWorkerUser, publicKeysOf, signNatsAuth, type NatsSeeds } from "../../services/nats-auth/sign.js";
import { qualified, schemaSql, TENANT_PLANS_TABLE, TENANT_USAGE_TABLE } from "../../services/clickhouse-schema/index.js";
import { loadIngestorConfig } from "../../services/ingestor/src/config.js";
import type { Logger } from "../../services/ingestor/src/consumer.js";
import { SwarmEventSchema } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { startIngestor, type RunningIngestor } from "../../services/ingestor/src/main.js";
import { ClickHouseSink, openEmbeddedEngine } from "../../services/ingestor/src/sink.js";
import { BUS_REVOCATION_SECONDS, NATS_ACCOUNT_KEY_FILES } from "../../services/provisioning/contract.js";
import { ClickHouseEventStore } from "../../services/provisioning/src/event-store.js";
import { tenantJobsFilter } from "../../services/provisioning/src/jobs.js";
import { JOB_DEAD_LETTER_HEADERS } from "../../services/worker/contract.js";
import { loadWorkerConfig } from "../../services/worker/src/config.js";
import { BUILTIN_HANDLERS } from "../../services/worker/src/handlers.js";
import { startWorker, type RunningWorker } from "../../services/worker/src/runtime.js";
import { KEYCLOAK_WAIT_MS, type RealmUser } from "../support/keycloak.js";
import { startDataPlaneServer, type NatsServer } from "../support/nats-server.js";
import { eventually, startHarness, type Harness } from "../provisioning/harness.js";

const execFileAsync = promisify(execFile);
const env = loadEnvironment("dev");
const tiers = loadTierCatalog();
const PROJECT = "checkout-service";
const MAX_DELIVER = 3;
const EVENTS = "enchanted.swarm_events";

let server: NatsServer;
let seeds: NatsSeeds;
let h: Harness;
let dir: string;
let platform: NatsConnection;
let jsm: JetStreamManager;
let engine: Awaited<ReturnType<typeof openEmbeddedEngine>>;
let ch: ClickHouseClient;
let ingestor: RunningIngestor;
let worker: RunningWorker;
const clients: AgentClient[] = [];

type Name = "A" | "B";
const tenants = {} as Record<Name, { id: string; user: RealmUser }>;

const quiet: Logger = { info: () => {}, warn: () => {}, error: (fields, msg) => process.stderr.write(`ingestor error: ${msg} ${JSON.stringify(fields)}\n`) };

async function tenantToken(name: Name): Promise<string> {
  return h.tenantToken(tenants[name].user, tenants[name].id);
}

/** Agent credentials exactly as the API answers them (api: the service's loopback address). */
async function credentialsOf(name: Name): Promise<AgentCredentials & { publicKey: string }> {
  const res = await h.request("POST", `/v1/tenants/${tenants[name].id}/bus-credentials`, { token: await tenantToken(name), body: {} });
  expect(res.status, res.text).toBe(201);
  const answer = res.body as { publicKey: string; servers: string[]; api: string; userId: string };
  expect(answer.servers).toEqual([server.url]);
  expect(answer.userId).toBe(tenants[name].user.id);
  return { ...credentialsFromAnswer({ ...answer, api: h.svc.url }), publicKey: answer.publicKey };
}

async function agent(credentials: AgentCredentials, o: Partial<Parameters<typeof AgentClient.connect>[0]> = {}): Promise<AgentClient> {
  const client = await AgentClient.connect({ credentials, projectId: PROJECT, ...o });
  clients.push(client);
  return client;
}

async function query<T>(sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await ch.query({ query: sql, query_params: params, format: "JSONEachRow" });
  return rs.json<T>();
}

async function countOf(tenantId: string, where = "1"): Promise<{ rows: number; events: number }> {
  const [r] = await query<{ rows: string; events: string }>(`SELECT count() AS rows, uniqExact(event_id) AS events FROM ${EVENTS} WHERE tenant_id = {t:String} AND ${where}`, { t: tenantId });
  return { rows: Number(r?.rows ?? 0), events: Number(r?.events ?? 0) };
}

/** The tenant's usage (tenant_usage_daily, fed by a view from every event row): its rows, and the events they count (stable under merges). */
async function usageOf(tenantId: string): Promise<{ rows: number; events: number }> {
  const [r] = await query<{ rows: string; events: string }>(`SELECT count() AS rows, sum(events) AS events FROM ${qualified(TENANT_USAGE_TABLE)} WHERE tenant_id = {t:String}`, { t: tenantId });
  return { rows: Number(r?.rows ?? 0), events: Number(r?.events ?? 0) };
}

/** The stored SwarmEvent of one row (raw_proto, byte for byte what the agent sent). */
async function storedEvent(eventId: string): Promise<{ event: SwarmEvent; raw: string; is_encrypted: boolean; rationale: string; agent_id: string; confidence_score: number; event_type: string }> {
  const [row] = await query<{ raw: string; is_encrypted: boolean; rationale: string; agent_id: string; confidence_score: number; event_type: string }>(
    `SELECT base64Encode(raw_proto) AS raw, is_encrypted, rationale, agent_id, confidence_score, event_type FROM ${EVENTS} WHERE event_id = {id:UUID}`,
    { id: eventId },
  );
  if (!row) throw new Error(`event ${eventId} is not stored`);
  return { ...row, event: fromBinary(SwarmEventSchema, Buffer.from(row.raw, "base64")) };
}

beforeAll(async () => {
  seeds = generateNatsSeeds([]);
  const keys = publicKeysOf(seeds);
  const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, keys), seeds.operator);
  server = await startDataPlaneServer({ serverName: "nats-agents-loop", signed, tiers, jetStreamStorageGiB: env.nats.storageGiB });
  expect(AUTH_INCLUDE_FILE).toBe("auth.conf");
  dir = mkdtempSync(join(tmpdir(), "agents-loop-"));
  const platformUser = await mintPlatformUser(seeds.swarmAccount);
  writeFileSync(join(dir, "platform.creds"), platformUser.creds, { mode: 0o600 });
  platform = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(platformUser.creds)) });
  jsm = await jetstreamManager(platform);
  // The topology, its two shared streams accepting the purges of offboarding's deletion (see ../provisioning/topology.ts).
  await createTopology(jsm, { nats: env.nats, workers: { tiers, options: { maxDeliver: MAX_DELIVER, ackWait: "30s" } } });

  // The event store and the ingestor, with the platform account's user, on one engine session.
  const chdbPath = join(dir, "chdb");
  engine = await openEmbeddedEngine(chdbPath);
  ch = engine.client;
  for (const statement of schemaSql({ eventTtlDays: env.clickhouse.eventTtlDays })) await ch.command({ query: statement });
  const sink = new ClickHouseSink(ch);
  ingestor = await startIngestor(
    loadIngestorConfig({ INGESTOR_NATS_URL: server.url, INGESTOR_NATS_CREDS: join(dir, "platform.creds"), INGESTOR_CHDB_PATH: chdbPath, INGESTOR_HTTP_PORT: "off", INGESTOR_PULL_EXPIRES_MS: "1000", INGESTOR_FLUSH_INTERVAL_MS: "200" }),
    quiet,
    { insert: (rows, token) => sink.insert(rows, token), close: async () => {} },
    // The tenants' plans and usage from the same engine: allowance, retention and offboarding enforced.
    { tenants: sink },
  );

  // The provisioning service's NATS side, as the construct mounts it; its event store is this engine
  // (one engine per process: the service's statements run as the engine's only user here).
  for (const t of PLAN_TIER_NAMES) writeFileSync(join(dir, `${t}.seed`), seeds.swarmSigningKeys[t], { mode: 0o600 });
  writeFileSync(join(dir, NATS_ACCOUNT_KEY_FILES.tenantAccounts), seeds.tenantAccountSigningKey, { mode: 0o600 });
  writeFileSync(join(dir, NATS_ACCOUNT_KEY_FILES.tenantImports), seeds.tenantImportSigningKey, { mode: 0o600 });
  writeFileSync(join(dir, "system-user.creds"), (await mintSystemUser(seeds.systemAccount)).creds, { mode: 0o600 });
  writeFileSync(join(dir, "provisioning-bus.creds"), (await mintProvisioningBusUser(seeds.swarmAccount)).creds, { mode: 0o600 });
  h = await startHarness({
    keycloak: false,
    env: {
      PROVISIONING_NATS_SIGNING_KEYS_DIR: dir,
      PROVISIONING_NATS_ACCOUNT: keys.swarmAccount,
      PROVISIONING_NATS_URL: server.url,
      PROVISIONING_NATS_SYSTEM_CREDS_FILE: join(dir, "system-user.creds"),
      PROVISIONING_NATS_PLATFORM_CREDS_FILE: join(dir, "provisioning-bus.creds"),
      PROVISIONING_CREDENTIALS_TTL_SECONDS: "600",
    },
    eventStore: new ClickHouseEventStore(ch, { replicated: false }),
  });
  for (const [name, slug] of [["A", "loop-tenant-a"], ["B", "loop-tenant-b"]] as const) {
    const user = await h.addUser();
    const res = await h.request("POST", "/v1/tenants", { token: await h.token(user), body: { name, slug } });
    expect(res.status, res.text).toBe(201);
    tenants[name] = { id: (res.body as { tenant: { id: string } }).tenant.id, user };
  }
  for (const name of ["A", "B"] as const) {
    await eventually(async () => ((await h.request("GET", `/v1/tenants/${tenants[name].id}`, { token: await tenantToken(name) })).body as { tenant: { bus: string; dataKey: string } }).tenant.bus === "ready", 15_000, `tenant ${name}'s account pushed`);
  }

  // The free tier's worker, with its platform-account user, reading history from the same engine.
  writeFileSync(join(dir, "workers-free.creds"), (await mintWorkerUser(seeds.swarmAccount, "free")).creds, { mode: 0o600 });
  worker = await startWorker(
    loadWorkerConfig({ WORKER_TIER: "free", WORKER_NATS_URL: server.url, WORKER_NATS_CREDS_FILE: join(dir, "workers-free.creds"), WORKER_PROVISIONING_URL: h.svc.url, WORKER_HTTP_PORT: "0", WORKER_LOG_LEVEL: "silent" }),
    {
      history: ch,
      handlers: { ...BUILTIN_HANDLERS, "test.fail": () => Promise.reject(new Error("the repository is unreachable")) },
      retryInitialMs: 50,
      retryMaxMs: 200,
      pullExpiresMs: 1_000,
    },
  );
}, KEYCLOAK_WAIT_MS + 60_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await worker?.stop();
  await h?.stop();
  await ingestor?.stop();
  await platform?.close();
  await server?.stop();
  if (engine) {
    await ch.close();
    await engine.release();
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("agents publish through the SDK with the credentials the API hands out", () => {
  it("10,000 events from one SDK client land in ClickHouse exactly once", async () => {
    const client = await agent(await credentialsOf("A"), { encryption: "auto" });
    expect(client.encrypting).toBe(false);
    const ids = new Set<string>();
    const base = Date.now() - 30 * 60_000;
    for (let i = 0; i < 10_000; i++) {
      const common = { agentId: `agent-${i % 7}`, timestamp: new Date(base + i * 100) };
      const draft =
        i % 3 === 0
          ? decision({ ...common, agentRole: "planner", confidence: (i % 100) / 100, action: `step ${i}`, rationale: `because of ${i}` })
          : i % 3 === 1
            ? stateChange({ ...common, agentRole: "coder", resource: `src/module-${i % 13}.ts`, change: "modified", stateHash: stateHashOf(`v${i}`), summary: `edit ${i}` })
            : signal({ ...common, signal: "heartbeat" });
      ids.add(await client.emit(draft));
    }
    await client.close();
    expect(ids.size).toBe(10_000);
    await eventually(async () => (await countOf(tenants.A.id)).events >= 10_000, 60_000, "10,000 of A's events stored");
    // Once: as many rows as events (no duplicate inserts), and nothing in another tenant.
    expect(await countOf(tenants.A.id)).toEqual({ rows: 10_000, events: 10_000 });
    expect(await countOf(tenants.B.id)).toEqual({ rows: 0, events: 0 });
  }, 120_000);

  it("the README's example (sdk/examples/quickstart.ts) runs with the credentials answer saved as a file", async () => {
    const res = await h.request("POST", `/v1/tenants/${tenants.A.id}/bus-credentials`, { token: await tenantToken("A"), body: {} });
    expect(res.status).toBe(201);
    const file = join(dir, "credentials.json");
    writeFileSync(file, JSON.stringify({ ...(res.body as object), api: h.svc.url }), { mode: 0o600 });
    // Not spawnSync: the provisioning service it asks for the data-key setting runs in this process.
    const run = await execFileAsync(process.execPath, ["--import", "tsx", "sdk/examples/quickstart.ts", file, PROJECT], { encoding: "utf8", timeout: 60_000 });
    const out = JSON.parse(run.stdout.trim().split("\n").pop() ?? "{}") as { tenantId: string; encrypted: boolean; events: string[] };
    expect(out).toMatchObject({ tenantId: tenants.A.id, encrypted: false });
    expect(out.events).toHaveLength(3);
    await eventually(async () => (await countOf(tenants.A.id, "agent_id = 'coder-1'")).events >= 3, 20_000, "the example's events stored");
    const [ledger] = await query<{ target_resource: string }>(`SELECT target_resource FROM ${EVENTS} WHERE event_id = {id:UUID}`, { id: out.events[2] });
    expect(ledger?.target_resource).toBe("src/billing/ledger.ts");
  });

  it("refuses the same credentials on another tenant's subjects", async () => {
    const errors: Error[] = [];
    const client = await agent(await credentialsOf("A"), { tenantId: tenants.B.id, encryption: "off", onError: (e) => errors.push(e) });
    await client.emit(decision({ agentId: "intruder", confidence: 1, action: "write into B", rationale: "forged" }));
    const failed = await client.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failed).toBeDefined();
    expect(errors.some((e) => e instanceof PermissionDeniedError)).toBe(true);
    expect(String((errors.find((e) => e instanceof PermissionDeniedError) as Error).message)).toContain(`swarm.${tenants.B.id}.${PROJECT}.events`);
    await new Promise((r) => setTimeout(r, 500));
    expect(await countOf(tenants.B.id)).toEqual({ rows: 0, events: 0 });
  });

  it(`stops a revoked credential within ${BUS_REVOCATION_SECONDS} s, and keeps the tenant's other credentials working`, async () => {
    const keep = await agent(await credentialsOf("A"), { encryption: "off" });
    const dropped = await credentialsOf("A");
    let rejected: { error: Error; at: number } | undefined;
    const drop = await agent(dropped, { encryption: "off", onError: (error) => (rejected ??= error instanceof CredentialsRejectedError ? { error, at: Date.now() } : undefined) });
    await drop.decision({ agentId: "soon-revoked", confidence: 0.5, action: "before", rationale: "still allowed" });
    await drop.flush();
    const res = await h.request("DELETE", `/v1/tenants/${tenants.A.id}/bus-credentials/${dropped.publicKey}`, { token: await tenantToken("A") });
    expect(res.status).toBe(202);
    const revokedAt = Date.now();
    await eventually(async () => rejected !== undefined, BUS_REVOCATION_SECONDS * 1_000, "the revoked client refused");
    const seconds = (rejected!.at - revokedAt) / 1_000;
    process.stdout.write(`revocation: the SDK client was refused ${seconds.toFixed(2)} s after the API accepted it (bound ${BUS_REVOCATION_SECONDS} s)\n`);
    expect(seconds).toBeLessThan(BUS_REVOCATION_SECONDS);
    expect((rejected!.error as CredentialsRejectedError).problem).toMatch(/revoked|refused/);
    await expect(drop.emit(decision({ agentId: "soon-revoked", confidence: 0.5, action: "after", rationale: "refused" }))).rejects.toBeInstanceOf(CredentialsRejectedError);
    await expect(agent(dropped, { encryption: "off" })).rejects.toBeInstanceOf(CredentialsRejectedError);
    await keep.decision({ agentId: "keeper", confidence: 0.9, action: "after", rationale: "still allowed" });
    await keep.flush();
  });
});

describe("encrypted payloads", () => {
  let sealedId = "";
  let credentials: AgentCredentials;

  it("a tenant with encryption on stores sealed text with is_encrypted, the filter columns in clear, and opens it with its own credentials", async () => {
    const patched = await h.request("PATCH", `/v1/tenants/${tenants.B.id}`, { token: await tenantToken("B"), body: { payloadEncryption: true } });
    expect(patched.status, patched.text).toBe(200);
    expect((patched.body as { tenant: { payloadEncryption: boolean } }).tenant.payloadEncryption).toBe(true);
    credentials = await credentialsOf("B");
    const client = await agent(credentials);
    expect(client.encrypting).toBe(true);
    sealedId = await client.decision({ agentId: "architect-1", agentRole: "architect", confidence: 0.82, action: "rewrite the billing module", rationale: "the secret plan: move invoices to the new ledger" });
    await client.stateChange({ agentId: "coder-1", resource: "src/billing.ts", change: "modified", stateHash: stateHashOf("ledger"), summary: "moved invoices" });
    await client.flush();
    await eventually(async () => (await countOf(tenants.B.id)).events >= 2, 20_000, "B's two events stored");

    const stored = await storedEvent(sealedId);
    expect(stored.is_encrypted).toBe(true);
    // The ingestor keeps an encrypted event's text out of the rationale column: only raw_proto holds it, sealed.
    expect(stored.rationale).toBe("");
    const raw = Buffer.from(stored.raw, "base64").toString("latin1");
    expect(raw).toContain("enc1.dk-");
    expect(raw).not.toContain("secret");
    // What queries filter on stays clear.
    expect({ type: stored.event_type, agent: stored.agent_id, confidence: Number(stored.confidence_score.toFixed(2)) }).toEqual({ type: "decision", agent: "architect-1", confidence: 0.82 });
    const [change] = await query<{ target_resource: string; is_encrypted: boolean }>(`SELECT target_resource, is_encrypted FROM ${EVENTS} WHERE tenant_id = {t:String} AND event_type = 'state_change'`, { t: tenants.B.id });
    expect(change).toEqual({ target_resource: "src/billing.ts", is_encrypted: true });

    const opened = await client.open(stored.event);
    expect(opened.payload.case === "decision" && opened.payload.value.rationale).toBe("the secret plan: move invoices to the new ledger");
    // Another tenant's credentials cannot fetch B's key.
    const otherKeys = new DataKeyClient(h.svc.url, await credentialsOf("A"));
    await expect(openEvent(stored.event, (keyId) => otherKeys.key(keyId))).rejects.toBeInstanceOf(KeyServiceError);
  });

  it("after offboarding the tenant's history is unreadable (the data key is destroyed), then deleted", async () => {
    const stored = await storedEvent(sealedId);
    const before = { A: { rows: await countOf(tenants.A.id), usage: (await usageOf(tenants.A.id)).events }, B: { rows: await countOf(tenants.B.id), usage: await usageOf(tenants.B.id) } };
    expect(before.B.rows.events).toBeGreaterThanOrEqual(2);
    expect(before.B.usage.events).toBe(before.B.rows.rows);
    const off = await h.request("DELETE", `/v1/tenants/${tenants.B.id}`, { token: await tenantToken("B") });
    expect(off.status).toBe(202);
    await eventually(async () => (await h.svc.plane.tenant(tenants.B.id))?.dataKey === "destroyed", 10_000, "B's data key destroyed");
    // With the tenant's own credentials (a fresh process: no cached key), the key service answers 410.
    const keys = new DataKeyClient(h.svc.url, credentials);
    const refused = await openEvent(stored.event, (keyId) => keys.key(keyId)).then(
      () => undefined,
      (e: unknown) => e as KeyServiceError,
    );
    expect(refused).toBeInstanceOf(KeyServiceError);
    expect(refused?.status).toBe(410);
    // Nor can the platform itself: no wrapped key is left to unwrap.
    expect(await h.svc.plane.agentLookup(tenants.B.id, "U".padEnd(56, "A")).then((l) => l.wrapped)).toBeUndefined();

    // Then the history itself goes: the plan row says offboarded, and no event or usage row and
    // no stream message of B is left, while A keeps every row.
    await eventually(async () => (await h.svc.plane.tenant(tenants.B.id))?.history === "deleted", 30_000, "B's history deleted");
    expect(await countOf(tenants.B.id)).toEqual({ rows: 0, events: 0 });
    expect(await usageOf(tenants.B.id)).toEqual({ rows: 0, events: 0 });
    const [plan] = await query<{ plan_tier: string; status: string }>(`SELECT plan_tier, status FROM ${qualified(TENANT_PLANS_TABLE)} FINAL WHERE tenant_id = {t:String}`, { t: tenants.B.id });
    expect(plan).toEqual({ plan_tier: "free", status: "offboarded" });
    const events = await jsm.streams.info(STREAM_NAMES.events, { subjects_filter: storedEventSubject(tenants.B.id) });
    const jobs = await jsm.streams.info(STREAM_NAMES.jobs, { subjects_filter: tenantJobsFilter(tenants.B.id) });
    expect([events.state.subjects ?? {}, jobs.state.subjects ?? {}]).toEqual([{}, {}]);
    expect({ rows: await countOf(tenants.A.id), usage: (await usageOf(tenants.A.id)).events }).toEqual(before.A);
  });
});

describe("jobs and workers", () => {
  it("a job submitted through the API is run by the tenant's tier worker with the tenant's credentials, and its decision lands", async () => {
    const res = await h.request("POST", `/v1/projects/${PROJECT}/jobs`, { token: await tenantToken("A"), body: { type: "changes.digest", input: { path: "src/", windowMinutes: 120 } } });
    expect(res.status, res.text).toBe(202);
    const out = res.body as { job: { jobId: string; tenantId: string }; lane: string; tier: string };
    expect(out).toMatchObject({ lane: jobSubject(tenants.A.id, "free"), tier: "free", job: { tenantId: tenants.A.id } });
    // A bad job is refused with the field and the fix, and nothing is published.
    for (const [body, field] of [[{ type: "Not A Type" }, "body.type"], [{ type: "changes.digest", input: [1] }, "body.input"], [{ type: "changes.digest", jobId: "123" }, "body.jobId"], [{ type: "changes.digest", extra: 1 }, "body"]] as const) {
      const bad = await h.request("POST", `/v1/projects/${PROJECT}/jobs`, { token: await tenantToken("A"), body });
      expect(bad.status, JSON.stringify(body)).toBe(400);
      expect(bad.text).toContain(field);
    }
    expect((await h.request("POST", "/v1/projects/a.b/jobs", { token: await tenantToken("A"), body: { type: "changes.digest" } })).status).toBe(400);
    // The same jobId again is stored once.
    const again = await h.request("POST", `/v1/projects/${PROJECT}/jobs`, { token: await tenantToken("A"), body: { type: "changes.digest", input: { path: "src/", windowMinutes: 120 }, jobId: out.job.jobId } });
    expect([again.status, (again.body as { duplicate: boolean }).duplicate]).toEqual([200, true]);

    await eventually(async () => (await countOf(tenants.A.id, "agent_id = 'digest-worker'")).events >= 1, 30_000, "the digest decision stored");
    const [digest] = await query<{ event_id: string; rationale: string; user_id: string; agent_role: string }>(`SELECT event_id, rationale, user_id, agent_role FROM ${EVENTS} WHERE tenant_id = {t:String} AND agent_id = 'digest-worker'`, { t: tenants.A.id });
    // The digest counts what the history holds: the 3,333 state changes of the first test over 13 files.
    const [truth] = await query<{ changes: string; resources: string }>(`SELECT count() AS changes, uniqExact(target_resource) AS resources FROM ${EVENTS} FINAL WHERE tenant_id = {t:String} AND event_type = 'state_change' AND startsWith(target_resource, 'src/')`, { t: tenants.A.id });
    expect(digest?.rationale).toContain(`${truth?.changes} state change(s) to ${truth?.resources} resource(s) under src/`);
    expect({ user: digest?.user_id, role: digest?.agent_role }).toEqual({ user: tenants.A.user.id, role: "REVIEWER" });
    await eventually(async () => (await jsm.consumers.info(STREAM_NAMES.jobs, workerConsumerName("free"))).num_ack_pending === 0, 10_000, "the worker consumer acked everything");
    const jobs = await worker.registry.getSingleMetric("worker_jobs_total")!.get();
    expect(jobs.values.filter((v) => v.labels["outcome"] === "ok").reduce((n, v) => n + v.value, 0)).toBe(1);
  }, 60_000);

  it(`a job that keeps failing is dead-lettered after ${MAX_DELIVER} deliveries, and a job filed under one tenant naming another never runs`, async () => {
    const before = (await jsm.streams.info(JOB_DEAD_LETTER_STREAM)).state.messages;
    const res = await h.request("POST", `/v1/projects/${PROJECT}/jobs`, { token: await tenantToken("A"), body: { type: "test.fail" } });
    expect(res.status).toBe(202);
    const jobId = (res.body as { job: { jobId: string } }).job.jobId;
    await eventually(async () => (await jsm.streams.info(JOB_DEAD_LETTER_STREAM)).state.messages > before, 20_000, "the failing job dead-lettered");
    const dead = await jsm.streams.getMessage(JOB_DEAD_LETTER_STREAM, { seq: before + 1 });
    expect({
      tenant: dead?.header.get(JOB_DEAD_LETTER_HEADERS.tenant),
      deliveries: dead?.header.get(JOB_DEAD_LETTER_HEADERS.deliveries),
      error: dead?.header.get(JOB_DEAD_LETTER_HEADERS.error),
      subject: dead?.header.get(JOB_DEAD_LETTER_HEADERS.subject),
      jobId: (dead?.json() as { jobId: string }).jobId,
    }).toEqual({ tenant: tenants.A.id, deliveries: String(MAX_DELIVER), error: "the repository is unreachable", subject: jobSubject(tenants.A.id, "free"), jobId });

    // Tenant A's own credentials may publish into its lane; a job naming tenant B is refused unrun.
    const own = await credentialsOf("A");
    const nc = await connect({ servers: server.url, authenticator: jwtAuthenticator(own.jwt, new TextEncoder().encode(own.seed)), inboxPrefix: `_INBOX.${tenants.A.id}` });
    try {
      const forged = { jobId: crypto.randomUUID(), type: "changes.digest", tenantId: tenants.B.id, projectId: PROJECT, input: {}, submittedBy: "forger", submittedAt: new Date().toISOString() };
      await jetstream(nc).publish(jobSubject(tenants.A.id, "free"), JSON.stringify(forged));
      await eventually(async () => (await jsm.streams.info(JOB_DEAD_LETTER_STREAM)).state.messages > before + 1, 20_000, "the forged job dead-lettered");
      const refused = await jsm.streams.getMessage(JOB_DEAD_LETTER_STREAM, { seq: before + 2 });
      expect(refused?.header.get(JOB_DEAD_LETTER_HEADERS.error)).toContain(`was filed under ${tenants.A.id}`);
      expect(refused?.header.get(JOB_DEAD_LETTER_HEADERS.deliveries)).toBe("1");
    } finally {
      await nc.close();
    }
    expect(await countOf(tenants.B.id, "agent_id = 'digest-worker'")).toEqual({ rows: 0, events: 0 });
  }, 60_000);
});

describe("reconnects", () => {
  it("a nats-server restart mid-stream loses nothing the SDK accepted, and stores each event once", async () => {
    const before = (await countOf(tenants.A.id)).events;
    const client = await agent(await credentialsOf("A"), { encryption: "off" });
    const ids = new Set<string>();
    const emitting = (async () => {
      for (let i = 0; i < 3_000; i++) {
        ids.add(await client.emit(signal({ agentId: "restart-probe", signal: "heartbeat" })));
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await eventually(() => ids.size >= 1_000, 20_000, "1,000 events accepted");
    await server.restart();
    await emitting;
    await client.flush();
    expect(ids.size).toBe(3_000);
    await eventually(async () => (await countOf(tenants.A.id, "agent_id = 'restart-probe'")).events >= 3_000, 60_000, "every accepted event stored");
    const [once] = await query<{ n: string }>(`SELECT count() AS n FROM ${EVENTS} FINAL WHERE tenant_id = {t:String} AND agent_id = 'restart-probe'`, { t: tenants.A.id });
    expect(Number(once?.n)).toBe(3_000);
    expect((await countOf(tenants.A.id)).events).toBe(before + 3_000);
  }, 120_000);
});
