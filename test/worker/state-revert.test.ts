/**
 * The worker's built-in `state.revert` (issue 17 item 5): its input, the check against the
 * tenant's history and the event that records the revert (pure parts), then the whole path on
 * real components: a nats-server running the data-plane configuration, tenants created by the
 * provisioning service's control plane (LMDB) whose accounts are pushed as its outbox pushes them,
 * the provisioning service's platform bus filing the jobs in the tenants' lanes and answering the
 * worker's credential requests, the free tier's worker reading history from the real ClickHouse
 * engine (chdb) as the workers' user (its row policy: only the bound tenant), and the ingestor
 * storing what the agents and the worker emit. The embedded engine is opened as one principal at a
 * time (one engine per process): the ingestor's phases as the administrator, the worker's as the
 * workers' user.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import type { ClickHouseClient } from "@clickhouse/client";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog, loadUserLimits } from "../../config/index.js";
import { AgentClient, stateHashOf } from "../../sdk/index.js";
import { schemaSql, type RevertCheckRow } from "../../services/clickhouse-schema/index.js";
import { loadIngestorConfig } from "../../services/ingestor/src/config.js";
import type { Logger } from "../../services/ingestor/src/consumer.js";
import { ChangeKind, SwarmEventSchema } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { startIngestor } from "../../services/ingestor/src/main.js";
import { ClickHouseSink } from "../../services/ingestor/src/sink.js";
import { natsAuthClaims } from "../../services/nats-auth/claims.js";
import { JOB_DEAD_LETTER_STREAM, STREAM_NAMES, workerConsumerName } from "../../services/nats-auth/jetstream-names.js";
import { generateNatsSeeds, mintPlatformUser, mintProvisioningBusUser, mintSystemUser, mintWorkerUser, publicKeysOf, signNatsAuth, type NatsSeeds } from "../../services/nats-auth/sign.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { ControlPlane, type TenantRecord } from "../../services/provisioning/src/control-plane.js";
import { PlatformBus } from "../../services/provisioning/src/jobs.js";
import { signingKeyMinter, type BusMinter } from "../../services/provisioning/src/nats.js";
import { LmdbStore } from "../../services/provisioning/src/store/lmdb.js";
import { JOB_DEAD_LETTER_HEADERS, type JobMessage } from "../../services/worker/contract.js";
import { loadWorkerConfig } from "../../services/worker/src/config.js";
import {
  BUILTIN_HANDLERS,
  JobInputError,
  parseMoment,
  revertEventIdOf,
  revertStateChange,
  stateRevert,
  stateRevertInput,
  STATE_REVERT_JOB_TYPE,
  tenantHistory,
  verifyRevert,
  type StateRevertInput,
} from "../../services/worker/src/handlers.js";
import { startWorker } from "../../services/worker/src/runtime.js";
import { REPLAY_JOB_TYPE } from "../../services/events-api/contract.js";
import { ADMIN, EmbeddedClickHouse } from "../support/chdb.js";
import { until } from "../support/ingestor.js";
import { provisionTenant, startDataPlaneServer, type NatsServer } from "../support/nats-server.js";

const env = loadEnvironment("dev");
const tiers = loadTierCatalog();
const PROJECT = "checkout-service";
const RESOURCE = "src/billing.ts";
const EVENTS = "enchanted.swarm_events";
const MAX_DELIVER = 2;
const WORKERS = { kind: "workers" } as const;

const h = (n: number) => stateHashOf(`state ${n}`);
const job = (over: Partial<JobMessage> = {}): JobMessage => ({
  jobId: "0b7e8a8c-9a3e-4c6e-8f5b-2d1f8a7c6e5d",
  type: STATE_REVERT_JOB_TYPE,
  tenantId: "t0123456789abcdefghijklmn",
  projectId: PROJECT,
  input: {},
  submittedBy: "user-1",
  submittedAt: "2026-12-04T10:05:00.000Z",
  ...over,
});

describe("state.revert: input, check and record (pure)", () => {
  const E1 = "11111111-2222-4333-8444-555555555555";
  const input = (over: Record<string, unknown> = {}): StateRevertInput => stateRevertInput({ resource: RESOURCE, stateHash: h(1), eventId: E1, timestamp: "2026-12-04T10:00:00.123456Z", ...over });
  const row = (over: Partial<RevertCheckRow> = {}): RevertCheckRow => ({
    changes: 3,
    times_in_state: 1,
    event_found: 1,
    event_state_hash: h(1),
    event_timestamp: "2026-12-04 10:00:00.123456",
    current_state_hash: h(3),
    last_changed: "2026-12-04 10:02:00.000000",
    revert_recorded: 0,
    ...over,
  });

  it("is the job type the events API's replays submit, and a built-in", () => {
    expect(STATE_REVERT_JOB_TYPE).toBe(REPLAY_JOB_TYPE);
    expect(BUILTIN_HANDLERS[STATE_REVERT_JOB_TYPE]).toBe(stateRevert);
  });

  it("reads RFC 3339 and ClickHouse's UTC literal, to the microsecond, and refuses anything else", () => {
    const base = BigInt(Date.UTC(2026, 11, 4, 10, 0, 0)) * 1000n;
    expect(parseMoment("2026-12-04T10:00:00.123456Z")).toEqual({ micros: base + 123_456n, digits: 6 });
    expect(parseMoment("2026-12-04 10:00:00.123456")).toEqual({ micros: base + 123_456n, digits: 6 });
    expect(parseMoment("2026-12-04T10:00:00.123Z")).toEqual({ micros: base + 123_000n, digits: 3 });
    expect(parseMoment("2026-12-04T12:30:00.5+02:30")).toEqual({ micros: base + 500_000n, digits: 1 });
    expect(parseMoment("2026-12-04T10:00:00.123456789Z")).toEqual({ micros: base + 123_456n, digits: 6 });
    expect(parseMoment("2026-12-04T10:00:00Z")).toEqual({ micros: base, digits: 0 });
    for (const bad of ["2026-12-04T10:00:00", "2026-02-31T10:00:00Z", "2026-12-04T24:00:00Z", "2026-12-04T10:00:00+25:00", "yesterday", "1764842400"]) expect(parseMoment(bad), bad).toBeUndefined();
  });

  it("checks its input, naming the field", () => {
    expect(input()).toMatchObject({ resource: RESOURCE, stateHash: h(1), eventId: E1, agentId: "state-revert" });
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ resource: "" }, /input.resource = "" is not a resource of 1-1024 characters/],
      [{ resource: "x".repeat(1025) }, /input.resource/],
      [{ stateHash: "ABC" }, /input.stateHash = "ABC" is not a state hash/],
      [{ stateHash: h(1).toUpperCase() }, /input.stateHash/],
      [{ eventId: "not-a-uuid" }, /input.eventId = "not-a-uuid" is not a canonical lower-case UUID/],
      [{ timestamp: 1764842400 }, /input.timestamp = 1764842400 is not a moment/],
      [{ timestamp: "2026-12-04T10:00:00" }, /input.timestamp/],
      [{ agentId: "a b" }, /input.agentId/],
      [{ path: "src/" }, /input.path = "src\/" is not an input of state.revert/],
    ];
    for (const [over, message] of cases) {
      expect(() => input(over)).toThrow(JobInputError);
      expect(() => input(over)).toThrow(message);
    }
    expect(() => stateRevertInput({ resource: RESOURCE, stateHash: h(1), eventId: E1 })).toThrow(/input.timestamp = undefined is not a moment/);
  });

  it("verifies the state in the history: an unknown state, another change or another time is a JobInputError naming the field", () => {
    const j = job();
    const ok = verifyRevert(row(), input(), j);
    expect(ok).toEqual({
      resource: RESOURCE,
      projectId: PROJECT,
      stateHash: h(1),
      eventId: E1,
      eventTimestamp: "2026-12-04 10:00:00.123456",
      currentStateHash: h(3),
      lastChanged: "2026-12-04 10:02:00.000000",
      revertEventId: revertEventIdOf(j),
      recorded: false,
    });
    // The precision the caller gave counts: milliseconds match a stored microsecond time.
    expect(verifyRevert(row(), input({ timestamp: "2026-12-04T10:00:00.123Z" }), j).eventId).toBe(E1);
    expect(verifyRevert(row({ revert_recorded: 1 }), input(), j).recorded).toBe(true);
    expect(() => verifyRevert(row({ times_in_state: 0, event_found: 0, event_state_hash: "" }), input(), j)).toThrow(`input.stateHash = "${h(1)}" is not a state of "${RESOURCE}" in project ${PROJECT} (3 state change(s) of it in the tenant's history)`);
    expect(() => verifyRevert(row({ changes: 0, times_in_state: 0, event_found: 0, event_state_hash: "" }), input(), j)).toThrow(/\(0 state change\(s\)/);
    expect(() => verifyRevert(row({ event_found: 0, event_state_hash: "" }), input(), j)).toThrow(`input.eventId = "${E1}" is not a state change of "${RESOURCE}" in project ${PROJECT}`);
    expect(() => verifyRevert(row({ event_state_hash: h(2) }), input(), j)).toThrow(`left "${RESOURCE}" in project ${PROJECT} in state ${h(2)}, not in ${h(1)}`);
    expect(() => verifyRevert(row({ event_state_hash: "" }), input(), j)).toThrow(/deleted, not in/);
    expect(() => verifyRevert(row(), input({ timestamp: "2026-12-04T10:00:00.124Z" }), j)).toThrow(/input.timestamp = "2026-12-04T10:00:00.124Z" is not when state change .* happened \(2026-12-04 10:00:00.123456 UTC\)/);
    for (const bad of [row({ times_in_state: 0 }), row({ event_found: 0 }), row({ event_state_hash: h(2) })]) expect(() => verifyRevert(bad, input(), j)).toThrow(JobInputError);
  });

  it("records the resource back in that state after its current one, naming the job and the event", () => {
    const j = job();
    const revert = verifyRevert(row(), input(), j);
    const now = Date.UTC(2026, 11, 4, 10, 5, 0);
    const draft = revertStateChange(revert, j, "state-revert", now);
    expect(draft).toMatchObject({
      agentId: "state-revert",
      agentRole: "operator",
      projectId: PROJECT,
      userId: "user-1",
      eventId: revertEventIdOf(j),
      resource: RESOURCE,
      change: "modified",
      stateHash: h(1),
      previousStateHash: h(3),
    });
    expect(draft.timestamp).toEqual(new Date(now));
    expect(draft.summary).toBe(`Reverted ${RESOURCE} to state ${h(1)}, the state event ${E1} (2026-12-04 10:00:00.123456 UTC) left it in; it was in state ${h(3)}. Job ${j.jobId} (state.revert), submitted by user-1 at ${j.submittedAt}.`);
    // A deleted resource is created again; one already in the state says so.
    expect(revertStateChange(verifyRevert(row({ current_state_hash: "" }), input(), j), j, "a", now)).toMatchObject({ change: "created", previousStateHash: "" });
    expect(revertStateChange(verifyRevert(row({ current_state_hash: h(1) }), input(), j), j, "a", now).summary).toContain("it was already in that state");
    // An agent whose clock ran ahead changed it "after" now: the revert is recorded just after that change.
    const ahead = revertStateChange(verifyRevert(row({ last_changed: "2026-12-04 10:05:30.250000" }), input(), j), j, "a", now);
    expect(ahead.timestamp).toEqual(new Date(Date.UTC(2026, 11, 4, 10, 5, 30, 251)));
    // ... unless that is further ahead than the ingestor accepts: then now.
    expect(revertStateChange(verifyRevert(row({ last_changed: "2026-12-05 10:00:00.000000" }), input(), j), j, "a", now).timestamp).toEqual(new Date(now));
  });

  it("derives one revert event id per job (every attempt emits the same)", () => {
    const a = revertEventIdOf(job());
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(revertEventIdOf(job())).toBe(a);
    expect(revertEventIdOf(job({ jobId: randomUUID() }))).not.toBe(a);
    expect(revertEventIdOf(job({ tenantId: "t1111111111111111111111111" }))).not.toBe(a);
  });
});

// ---------------------------------------------------------------------------------------------

let server: NatsServer;
let seeds: NatsSeeds;
let dir: string;
let platform: NatsConnection;
let system: NatsConnection;
let jsm: JetStreamManager;
let engine: EmbeddedClickHouse;
let store: LmdbStore;
let bus: PlatformBus;
let minter: BusMinter;
const tenants = {} as Record<"A" | "B", TenantRecord>;
/** Tenant A's states of RESOURCE, oldest first: event id and stored time. */
const states: { eventId: string; hash: string; timestamp: string }[] = [];

const quiet: Logger = { info: () => {}, warn: () => {}, error: (fields, msg) => process.stderr.write(`ingestor error: ${msg} ${JSON.stringify(fields)}\n`) };

async function query<T>(ch: ClickHouseClient, sql: string, params: Record<string, unknown> = {}): Promise<T[]> {
  return (await ch.query({ query: sql, query_params: params, format: "JSONEachRow" })).json<T>();
}

/** Runs `fn` on the engine as the administrator with the ingestor storing the events stream's backlog; `stored` says when it is done. */
async function withIngestor<T>(stored: (ch: ClickHouseClient) => Promise<boolean>, fn: (ch: ClickHouseClient) => Promise<T>): Promise<T> {
  return engine.as(ADMIN, async (ch) => {
    const sink = new ClickHouseSink(ch);
    const ingestor = await startIngestor(
      loadIngestorConfig({ INGESTOR_NATS_URL: server.url, INGESTOR_NATS_CREDS: join(dir, "platform.creds"), INGESTOR_CHDB_PATH: join(engine.root, "data"), INGESTOR_HTTP_PORT: "off", INGESTOR_PULL_EXPIRES_MS: "1000", INGESTOR_FLUSH_INTERVAL_MS: "100" }),
      quiet,
      { insert: (rows, token) => sink.insert(rows, token), close: async () => {} },
    );
    try {
      await until(() => stored(ch), "the events stored", 30_000);
      return await fn(ch);
    } finally {
      await ingestor.stop();
    }
  });
}

async function agentOf(tenant: TenantRecord): Promise<AgentClient> {
  const creds = await minter.mint(tenant.id, tenant.planTier, 600, tenant.busAccount);
  return AgentClient.connect({ credentials: { jwt: creds.jwt, seed: creds.seed, servers: [server.url], userId: tenant.createdBy }, projectId: PROJECT, encryption: "off" });
}

const rfc3339 = (stored: string) => `${stored.replace(" ", "T")}Z`;

describe("state.revert on real components", () => {
  beforeAll(async () => {
    seeds = generateNatsSeeds([]);
    const signed = await signNatsAuth(natsAuthClaims({ name: env.name, nats: env.nats }, tiers, publicKeysOf(seeds)), seeds.operator);
    server = await startDataPlaneServer({ serverName: "nats-state-revert", signed, tiers, jetStreamStorageGiB: env.nats.storageGiB });
    dir = mkdtempSync(join(tmpdir(), "state-revert-"));
    const platformUser = await mintPlatformUser(seeds.swarmAccount);
    writeFileSync(join(dir, "platform.creds"), platformUser.creds, { mode: 0o600 });
    writeFileSync(join(dir, "provisioning-bus.creds"), (await mintProvisioningBusUser(seeds.swarmAccount)).creds, { mode: 0o600 });
    writeFileSync(join(dir, "workers-free.creds"), (await mintWorkerUser(seeds.swarmAccount, "free")).creds, { mode: 0o600 });
    platform = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode(platformUser.creds)) });
    system = await connect({ servers: server.url, authenticator: credsAuthenticator(new TextEncoder().encode((await mintSystemUser(seeds.systemAccount)).creds)) });
    jsm = await jetstreamManager(platform);
    await createTopology(jsm, { nats: env.nats, workers: { tiers, options: { maxDeliver: MAX_DELIVER, ackWait: "30s" } } });

    // Tenants as the provisioning service creates them; their accounts pushed as its outbox pushes them.
    store = await LmdbStore.open(join(dir, "store"));
    const plane = new ControlPlane({ store, catalog: tiers, userLimits: loadUserLimits() });
    for (const [name, slug] of [["A", "revert-tenant-a"], ["B", "revert-tenant-b"]] as const) {
      const created = await plane.createTenant({ userId: `owner-${slug}`, name, slug, requestId: randomUUID() });
      expect(created.statusCode).toBe(201);
      const record = await plane.tenant((created.body as { tenant: { id: string } }).tenant.id);
      if (!record) throw new Error(`tenant ${name} was not stored`);
      tenants[name] = record;
      await provisionTenant(system, seeds, record.id, record.planTier, tiers, record.busAccount);
    }
    minter = signingKeyMinter(seeds.swarmSigningKeys);
    // The provisioning service's platform bus: files jobs, answers the worker's credential requests.
    // (No provisioning HTTP API runs here: the answers' `api` is empty, and the worker reads no data keys.)
    bus = await PlatformBus.start({ url: server.url, credsFile: join(dir, "provisioning-bus.creds"), plane, minter, api: "", log: pino({ level: "silent" }) });

    engine = EmbeddedClickHouse.create({ catalog: tiers });
    await engine.as(ADMIN, async (ch) => {
      for (const statement of schemaSql({ eventTtlDays: env.clickhouse.eventTtlDays })) await ch.command({ query: statement });
    });

    // Tenant A's agents take the resource through three states; tenant B's has a state of its own.
    const base = Date.now() - 10 * 60_000;
    const a = await agentOf(tenants.A);
    const b = await agentOf(tenants.B);
    const ids: string[] = [];
    try {
      for (let i = 1; i <= 3; i++) {
        ids.push(await a.stateChange({ agentId: `coder-${i}`, agentRole: "coder", resource: RESOURCE, change: i === 1 ? "created" : "modified", stateHash: h(i), ...(i > 1 ? { previousStateHash: h(i - 1) } : {}), summary: `edit ${i}`, timestamp: new Date(base + i * 60_000) }));
      }
      await b.stateChange({ agentId: "coder-b", agentRole: "coder", resource: RESOURCE, change: "created", stateHash: h(99), summary: "tenant B's own file", timestamp: new Date(base) });
      await a.flush();
      await b.flush();
    } finally {
      await a.close();
      await b.close();
    }
    await withIngestor(
      async (ch) => Number((await query<{ n: string }>(ch, `SELECT count() AS n FROM ${EVENTS}`))[0]?.n) === 4,
      async (ch) => {
        const rows = await query<{ event_id: string; state_hash: string; timestamp: string }>(ch, `SELECT event_id, state_hash, timestamp FROM ${EVENTS} FINAL WHERE tenant_id = {t:String} ORDER BY timestamp`, { t: tenants.A.id });
        expect(rows.map((r) => r.event_id)).toEqual(ids);
        for (const r of rows) states.push({ eventId: r.event_id, hash: r.state_hash, timestamp: r.timestamp });
      },
    );
  }, 120_000);

  afterAll(async () => {
    await bus?.close();
    await store?.close();
    await platform?.close();
    await system?.close();
    await server?.stop();
    await engine?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let good: JobMessage;

  it("a job filed in the tenant's lane takes the resource back to the state in its history; an unknown state, or a state another tenant had, is dead-lettered", async () => {
    const [s1, s2] = states as [(typeof states)[number], (typeof states)[number]];
    const deadBefore = (await jsm.streams.info(JOB_DEAD_LETTER_STREAM)).state.messages;
    const submit = async (input: Record<string, unknown>) => (await bus.submit(tenants.A, PROJECT, { type: STATE_REVERT_JOB_TYPE, input }, tenants.A.createdBy)).job;
    await engine.as(WORKERS, async (history) => {
      const worker = await startWorker(
        loadWorkerConfig({ WORKER_TIER: "free", WORKER_NATS_URL: server.url, WORKER_NATS_CREDS_FILE: join(dir, "workers-free.creds"), WORKER_HTTP_PORT: "off", WORKER_LOG_LEVEL: "silent" }),
        { history, retryInitialMs: 50, retryMaxMs: 200, pullExpiresMs: 1_000 },
      );
      try {
        good = await submit({ resource: RESOURCE, stateHash: s1.hash, eventId: s1.eventId, timestamp: rfc3339(s1.timestamp) });
        await submit({ resource: RESOURCE, stateHash: h(99), eventId: s1.eventId, timestamp: rfc3339(s1.timestamp) }); // tenant B's state
        await submit({ resource: RESOURCE, stateHash: s1.hash, eventId: s2.eventId, timestamp: rfc3339(s2.timestamp) }); // another change's event
        await submit({ resource: "src/other.ts", stateHash: s1.hash, eventId: s1.eventId, timestamp: rfc3339(s1.timestamp) }); // another resource
        await until(async () => {
          const info = await jsm.consumers.info(STREAM_NAMES.jobs, workerConsumerName("free"));
          return info.num_pending === 0 && info.num_ack_pending === 0;
        }, "the worker ran every job", 30_000);
        const outcomes = (await worker.registry.getSingleMetric("worker_jobs_total")!.get()).values.map((v) => [v.labels["type"], v.labels["outcome"], v.value]);
        expect(outcomes).toEqual(expect.arrayContaining([[STATE_REVERT_JOB_TYPE, "ok", 1], [STATE_REVERT_JOB_TYPE, "dead_lettered", 3]]));
      } finally {
        await worker.stop();
      }
    });
    // Permanent: dead-lettered at the first delivery, the error naming the field.
    const dead = await Promise.all([1, 2, 3].map((i) => jsm.streams.getMessage(JOB_DEAD_LETTER_STREAM, { seq: deadBefore + i })));
    expect(dead.map((m) => m?.header.get(JOB_DEAD_LETTER_HEADERS.deliveries))).toEqual(["1", "1", "1"]);
    // The worker runs jobs concurrently: the dead letters come in any order, one per bad job.
    const errors = dead.map((m) => m?.header.get(JOB_DEAD_LETTER_HEADERS.error) ?? "");
    const expected = [
      `input.stateHash = "${h(99)}" is not a state of "${RESOURCE}" in project ${PROJECT} (3 state change(s)`,
      `input.eventId = "${s2.eventId}" left "${RESOURCE}" in project ${PROJECT} in state ${s2.hash}, not in ${s1.hash}`,
      `input.stateHash = "${s1.hash}" is not a state of "src/other.ts" in project ${PROJECT} (0 state change(s)`,
    ];
    for (const e of expected) expect(errors.filter((x) => x.includes(e)), e).toHaveLength(1);

    // The history shows the resource back in its first state, recorded as the job's revert.
    const revertId = revertEventIdOf(good);
    await withIngestor(
      async (ch) => (await query(ch, `SELECT 1 FROM ${EVENTS} WHERE event_id = {id:UUID}`, { id: revertId })).length === 1,
      async (ch) => {
        const history = await query<{ event_id: string; agent_id: string; agent_role: string; user_id: string; state_hash: string; raw: string }>(
          ch,
          `SELECT event_id, agent_id, agent_role, user_id, state_hash, base64Encode(raw_proto) AS raw FROM ${EVENTS} FINAL WHERE tenant_id = {t:String} AND project_id = {p:String} AND target_resource = {r:String} AND event_type = 'state_change' ORDER BY timestamp DESC, event_id DESC`,
          { t: tenants.A.id, p: PROJECT, r: RESOURCE },
        );
        expect(history.map((r) => r.state_hash)).toEqual([s1.hash, h(3), h(2), h(1)]);
        const [latest] = history as [(typeof history)[number]];
        expect({ id: latest.event_id, agent: latest.agent_id, role: latest.agent_role, user: latest.user_id }).toEqual({ id: revertId, agent: "state-revert", role: "OPERATOR", user: tenants.A.createdBy });
        const event = fromBinary(SwarmEventSchema, Buffer.from(latest.raw, "base64"));
        expect(event.payload.case).toBe("stateChange");
        const change = event.payload.value as { targetResource: string; stateHash: string; previousStateHash: string; changeKind: ChangeKind; summary: string };
        expect({ resource: change.targetResource, hash: change.stateHash, previous: change.previousStateHash, kind: change.changeKind }).toEqual({ resource: RESOURCE, hash: s1.hash, previous: h(3), kind: ChangeKind.MODIFIED });
        expect(change.summary).toContain(`the state event ${s1.eventId} (${s1.timestamp} UTC)`);
        expect(change.summary).toContain(`Job ${good.jobId} (state.revert), submitted by ${tenants.A.createdBy}`);
        // Nothing was recorded for the refused jobs, nor in tenant B's history.
        expect((await query(ch, `SELECT 1 FROM ${EVENTS} WHERE agent_id = 'state-revert'`)).length).toBe(1);
      },
    );
  }, 120_000);

  it("an attempt after the revert was recorded emits nothing (a redelivered job is recorded once)", async () => {
    const before = (await jsm.streams.info(STREAM_NAMES.events)).state.last_seq;
    const agent = await agentOf(tenants.A);
    try {
      await engine.as(WORKERS, async (client) => {
        await stateRevert({ job: good, tier: "free", attempt: 2, agent, history: tenantHistory(client, tenants.A.id), signal: new AbortController().signal });
        // Bound to tenant B, the same resource has only B's own history.
        const other = await tenantHistory(client, tenants.B.id).revertCheck({ projectId: PROJECT, resource: RESOURCE, stateHash: states[0]!.hash, eventId: states[0]!.eventId, revertEventId: revertEventIdOf(good) });
        expect(other).toMatchObject({ changes: 1, times_in_state: 0, event_found: 0, revert_recorded: 0, current_state_hash: h(99) });
      });
      await agent.flush();
    } finally {
      await agent.close();
    }
    expect((await jsm.streams.info(STREAM_NAMES.events)).state.last_seq).toBe(before);
  }, 60_000);
});
