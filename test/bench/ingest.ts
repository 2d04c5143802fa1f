/**
 * `npm run bench:ingest`: the ingestor against the naive design, on one machine, in one run.
 *
 * 1. Publishes BENCH_EVENTS (500,000) realistic protobuf events (300-600 bytes; 120 tenants,
 *    1,000 agents, 3 projects per tenant) to a fresh `SWARM_EVENTS` on a local nats-server.
 * 2. drain: the production consumer (every check on: size, subject, decode, required fields, id
 *    formats, tenant match; dead-lettering; deduplication token; ack after insert) drains the
 *    backlog into the embedded ClickHouse engine (chdb). Then the table must hold every event
 *    exactly once.
 * 3. naive: the seed's design on the same stream from its first message: per-message decode,
 *    1,000-row inserts, then one awaited ack per message. It drains BENCH_NAIVE_EVENTS
 *    (100,000) of the same events; its rate is stable long before that. `SWARM_EVENTS` keeps a
 *    message only while a consumer still has to ack it (interest retention), so the naive
 *    consumer is created before the backlog is published (the drain's acks then remove nothing:
 *    drain and naive both read a stream that only grows, as before interest retention) and
 *    deleted after its phase (the live phase runs with the server's deletions on ack).
 * 4. floors, on the same events in the same run, each part of the pipeline alone:
 *    - bus: JetStream consume-and-ack only (its own durable consumer, created with the naive
 *      one before the backlog; the production consumer's pulls, prefetch and batched acks; no
 *      decode, no insert);
 *    - engine: the engine's insert of the same rows only (the 500,000 events encoded into the
 *      production's TabSeparated blocks beforehand, untimed; then inserted with the production
 *      batch size, concurrency and insert settings through the same sink).
 *    The drain is printed as a fraction of the slower floor (`drain_of_floor`): what the
 *    consumer's own work (checks, decode, batching, dead letters, tenants) leaves of the most
 *    the machine could do with its two slowest parts.
 * 5. live: a paced publisher (a child process, its own connection) publishes at half the drain
 *    measured above (BENCH_LIVE_EPS overrides) for BENCH_LIVE_SECONDS (20) while the production
 *    consumer runs: a load the pipeline can carry on this machine, so the latency says
 *    something; each event's latency is from its publish to the end of the insert that stored
 *    it (inserts are synchronous, so the row is queryable then). A query checks every live
 *    event is there.
 *
 * CPU per event (the drain): the JavaScript thread, the rest of this process (the engine's
 * threads, GC helpers) and nats-server, from the processes' own CPU clocks.
 *
 * The last line is one JSON object:
 * `{"drain_eps","naive_eps","ratio","bus_floor_eps","engine_floor_eps","drain_of_floor","cpu_us_per_event","live_eps","live_p99_ms","rss_mb"}`
 * where `rss_mb` is this process's peak resident memory (consumer and engine); nats-server's is
 * printed apart.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join, resolve as resolvePath } from "node:path";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { loadEnvironment } from "../../config/index.js";
import { DEFAULT_PLAN_TIER, PLAN_TIER_NAMES, PLAN_TIERS, type TierCatalog } from "../../config/tiers.js";
import type { SwarmEventRow } from "../../services/clickhouse-schema/table.js";
import { qualified, schemaSql, SWARM_EVENTS_TABLE } from "../../services/clickhouse-schema/index.js";
import { loadIngestorConfig, prefetchMessages, type IngestorConfig } from "../../services/ingestor/src/config.js";
import { ackAllBut, batchToken, EventConsumer, type Logger } from "../../services/ingestor/src/consumer.js";
import { checkTopology } from "../../services/ingestor/src/topology.js";
import { decodeEvent } from "../../services/ingestor/src/event.js";
import { createIngestorMetrics } from "../../services/ingestor/src/metrics.js";
import { SwarmEventSchema, type SwarmEvent } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { buildEvent, typicalKind } from "../../services/ingestor/src/generator.js";
import { appendEvent, RowBlock } from "../../services/ingestor/src/row-encoder.js";
import { openSink, type ClickHouseSink, type InsertRows, type Sink, type TenantStore } from "../../services/ingestor/src/sink.js";
import { startJetStreamServer, type NatsServer } from "../../services/nats-auth/nats-server-process.js";
import { eventSubject, STREAM_NAMES, tenantBacklogMessages } from "../../services/nats-auth/streams.js";
import { createTopology } from "../../services/nats-auth/topology.js";
import { percentile, processMemoryBytes } from "./support.js";

const EVENTS = Number(process.env["BENCH_EVENTS"] ?? 500_000);
const NAIVE_EVENTS = Math.min(EVENTS, Number(process.env["BENCH_NAIVE_EVENTS"] ?? 100_000));
/** The live run's rate: unset, half the drain measured in the same run. */
const LIVE_EPS_OVERRIDE = process.env["BENCH_LIVE_EPS"] === undefined ? undefined : Number(process.env["BENCH_LIVE_EPS"]);
const LIVE_SECONDS = Number(process.env["BENCH_LIVE_SECONDS"] ?? 20);
const TENANTS = 120;
const AGENTS = 1_000;
const PROJECTS_PER_TENANT = 3;
const NAIVE_BATCH = 1_000;
/** Published with core NATS in chunks; a flush after each keeps the client's buffer bounded. */
const PUBLISH_CHUNK = 5_000;
/** The most events one tenant has in the backlog: agent i mod AGENTS, tenant agent mod TENANTS. */
const TENANT_BACKLOG = Math.ceil(EVENTS / AGENTS) * Math.ceil(AGENTS / TENANTS);
/**
 * The catalog the streams are sized from: PLAN_TIERS with each tier's JetStream allowance raised
 * (where needed) so one tenant may hold its whole share of the backlog. In production a tenant
 * holds at most `tenantBacklogMessages` (4,096) messages in `SWARM_EVENTS` (discard new per
 * subject); the bench publishes its backlog (up to 4,500 events a tenant) before anything
 * consumes, so with the production bound about 16,000 publishes were refused and the bench waited
 * for them forever. The bound is the bus's fairness between tenants, no part of the ingestor's
 * work; the consumers' tenants still get their plans from PLAN_TIERS.
 */
const STREAM_TIERS: TierCatalog = Object.fromEntries(
  PLAN_TIER_NAMES.map((name) => {
    const tier = PLAN_TIERS[name];
    const room = Math.ceil((TENANT_BACKLOG * tier.bus.maxPayloadBytes) / (1024 * 1024));
    return [name, { ...tier, bus: { ...tier.bus, jetstreamStorageMiB: Math.max(tier.bus.jetstreamStorageMiB, room) } }];
  }),
) as TierCatalog;
/** The backlog's publishes are taken as lost when the stream stops growing this long. */
const PUBLISH_STALL_MS = 10_000;
/** The live publisher sends a slice of its second this often. */
const LIVE_TICK_MS = 10;
/** Distinct live event bodies; each publish gives one a fresh id and timestamp. */
const LIVE_TEMPLATES = 10_000;
const DRAIN_TIMEOUT_MS = 600_000;
/** BENCH_PROFILE_DRAIN=<file.cpuprofile>: a CPU profile of the JavaScript thread during the drain only (for Chrome DevTools / speedscope). */
const PROFILE_DRAIN = process.env["BENCH_PROFILE_DRAIN"] ?? "";

const progress = (line: string) => process.stdout.write(`» ${line}\n`);
const silent: Logger = { info: () => {}, warn: () => {}, error: (fields, msg) => process.stderr.write(`${msg} ${JSON.stringify(fields)}\n`) };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The i-th event of the swarm: agent i mod 1,000, its tenant and project, the typical mix. */
function swarmEvent(i: number, now: Date): { subject: string; event: SwarmEvent } {
  const agent = i % AGENTS;
  const tenant = agent % TENANTS;
  const tenantId = `tenant-${String(tenant).padStart(3, "0")}`;
  const projectId = `project-${Math.floor(agent / TENANTS) % PROJECTS_PER_TENANT}`;
  const roles = ["planner", "coder", "reviewer", "tester", "operator"] as const;
  const agentId = `${roles[agent % roles.length]}-${agent}`;
  const event = buildEvent({ tenantId, projectId, agentId, userId: `user-${tenant}-${agent % 4}`, kind: typicalKind(i), now, seed: i });
  return { subject: eventSubject(tenantId, projectId), event };
}

// ---------------------------------------------------------------------------------------------
// The live publisher (a child process): paced, its own connection, one timestamp per event.
// ---------------------------------------------------------------------------------------------
interface LiveJob {
  readonly url: string;
  readonly eps: number;
  readonly seconds: number;
}

async function livePublisher(job: LiveJob): Promise<void> {
  const nc = await connect({ servers: job.url });
  const now = new Date();
  const templates = Array.from({ length: LIVE_TEMPLATES }, (_, i) => swarmEvent(EVENTS + i, now));
  const total = job.eps * job.seconds;
  const start = performance.now();
  let sent = 0;
  let counter = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * job.eps));
    for (; sent < due; sent++) {
      const t = templates[sent % LIVE_TEMPLATES];
      if (t === undefined) continue;
      const ms = Date.now();
      counter++;
      t.event.eventId = `00000000-0000-4000-8000-${counter.toString(16).padStart(12, "0")}`;
      t.event.timestamp = create(TimestampSchema, { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
      nc.publish(t.subject, toBinary(SwarmEventSchema, t.event));
    }
    await sleep(LIVE_TICK_MS);
  }
  await nc.flush();
  await nc.close();
  process.send?.({ sent, seconds: (performance.now() - start) / 1000 });
}


// ---------------------------------------------------------------------------------------------

async function publishBacklog(nc: NatsConnection, jsm: JetStreamManager): Promise<{ seconds: number; minBytes: number; maxBytes: number; meanBytes: number }> {
  const now = new Date(Date.now() - 3_600_000);
  const start = performance.now();
  let min = Infinity;
  let max = 0;
  let total = 0;
  for (let i = 0; i < EVENTS; i++) {
    const { subject, event } = swarmEvent(i, new Date(now.getTime() + Math.floor((i / EVENTS) * 3_600_000)));
    const data = toBinary(SwarmEventSchema, event);
    min = Math.min(min, data.byteLength);
    max = Math.max(max, data.byteLength);
    total += data.byteLength;
    nc.publish(subject, data);
    if ((i + 1) % PUBLISH_CHUNK === 0) await nc.flush();
  }
  await nc.flush();
  // Core publishes are not confirmed: one the stream refused is only seen as a count that stops growing.
  let stored = -1;
  let grewAt = performance.now();
  for (;;) {
    const info = await jsm.streams.info(STREAM_NAMES.events);
    if (info.state.messages >= EVENTS) break;
    if (info.state.messages !== stored) {
      stored = info.state.messages;
      grewAt = performance.now();
    } else if (performance.now() - grewAt > PUBLISH_STALL_MS) {
      throw new Error(`${STREAM_NAMES.events} stores ${stored} of the ${EVENTS} events published and no more for ${PUBLISH_STALL_MS} ms: publishes were refused (max_msgs_per_subject ${info.config.max_msgs_per_subject}, a tenant's share of the backlog up to ${TENANT_BACKLOG}; max_bytes ${info.config.max_bytes})`);
    }
    await sleep(50);
  }
  return { seconds: (performance.now() - start) / 1000, minBytes: min, maxBytes: max, meanBytes: Math.round(total / EVENTS) };
}

/**
 * Waits until `consumer` has stored `count` more rows than `before`, then until JetStream's ack
 * floor reaches `upTo`. The rows are counted in-process: polling the consumer's info often
 * slows the server's deliveries to it (each info request takes the consumer's lock).
 */
async function waitDrained(jsm: JetStreamManager, consumer: EventConsumer, name: string, upTo: number, rowsBefore: number, count: number): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  const check = () => {
    const health = consumer.health();
    if (health.state === "failed") throw new Error(`consumer failed: ${health.lastError}`);
    if (Date.now() > deadline) throw new Error(`consumer ${name} did not store ${count} rows within ${DRAIN_TIMEOUT_MS} ms (${health.rowsInserted - rowsBefore} stored)`);
    return health.rowsInserted + health.deadLettered - rowsBefore >= count;
  };
  while (!check()) await sleep(5);
  for (;;) {
    const info = await jsm.consumers.info(STREAM_NAMES.events, name);
    if (info.ack_floor.stream_seq >= upTo && info.num_ack_pending === 0) return;
    check();
    await sleep(200);
  }
}

async function countRows(sink: ClickHouseSink): Promise<{ rows: number; distinct: number }> {
  const rs = await sink.client.query({ query: `SELECT count() AS rows, uniqExact(event_id) AS distinct FROM ${qualified(SWARM_EVENTS_TABLE)}`, format: "JSONEachRow" });
  const [row] = await rs.json<{ rows: string; distinct: string }>();
  return { rows: Number(row?.rows ?? 0), distinct: Number(row?.distinct ?? 0) };
}

/** Starts V8's sampling profiler on this thread; `stop(file)` writes the profile and returns its path. */
async function startCpuProfile(): Promise<{ stop(file: string): Promise<string> }> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object) => new Promise<T>((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))));
  await post("Profiler.enable");
  await post("Profiler.start");
  return {
    async stop(file) {
      const { profile } = await post<{ profile: object }>("Profiler.stop");
      session.disconnect();
      writeFileSync(file, JSON.stringify(profile));
      return resolvePath(file);
    },
  };
}

/** The production consumer's run: rows/s from its start to the ack of the last message. */
/** Where the drain's CPU went, in µs per event: the JavaScript thread (its event-loop active time), the rest of this process (the engine's threads, GC helpers), nats-server. */
interface DrainCpu {
  readonly jsThreadUs: number;
  readonly engineUs: number;
  readonly natsServerUs: number;
}

async function drain(js: JetStreamClient, jsm: JetStreamManager, sink: Sink, tenants: TenantStore, config: IngestorConfig, ackWaitMs: number, server: NatsServer): Promise<{ eps: number; consumer: EventConsumer; cpu: DrainCpu }> {
  // As in production: with its Prometheus metrics (the consumer-info gauges are read on scrape only)
  // and its tenants' plans and usage read from the engine (every tenant is new: the default tier).
  const consumer = new EventConsumer({ js, sink, tenants, config, ackWaitMs, log: silent, metrics: createIngestorMetrics() });
  const start = performance.now();
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const natsBefore = natsServerCpuSeconds(server);
  const profiler = PROFILE_DRAIN ? await startCpuProfile() : undefined;
  void consumer.start();
  await waitDrained(jsm, consumer, config.nats.consumer, EVENTS, 0, EVENTS);
  const seconds = (performance.now() - start) / 1000;
  if (profiler) progress(`drain: CPU profile of the JavaScript thread written to ${await profiler.stop(PROFILE_DRAIN)}`);
  const cpu = process.cpuUsage(cpuBefore);
  const jsThreadSeconds = performance.eventLoopUtilization(eluBefore).active / 1000;
  const processSeconds = (cpu.user + cpu.system) / 1e6;
  const perEvent = (s: number) => Math.round((s / EVENTS) * 1e7) / 10;
  return {
    eps: EVENTS / seconds,
    consumer,
    cpu: { jsThreadUs: perEvent(jsThreadSeconds), engineUs: perEvent(Math.max(0, processSeconds - jsThreadSeconds)), natsServerUs: perEvent(natsServerCpuSeconds(server) - natsBefore) },
  };
}

/** nats-server's CPU time so far (user + system), from /proc; NaN where there is none. */
function natsServerCpuSeconds(server: NatsServer): number {
  try {
    const fields = readFileSync(`/proc/${server.pid ?? 0}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/** The naive design knows no tenant plans: every row gets the default tier's retention. */
const NAIVE_RETENTION_DAYS = PLAN_TIERS[DEFAULT_PLAN_TIER].events.retentionDays;

/** The seed's design: decode each message, insert every 1,000 rows, then await each message's ack. */
const NAIVE_CONSUMER = "bench-naive";

/** The naive design's durable consumer: created before the backlog is published (interest retention keeps the messages it has not acked). */
async function addNaiveConsumer(jsm: JetStreamManager): Promise<void> {
  await jsm.consumers.add(STREAM_NAMES.events, { durable_name: NAIVE_CONSUMER, ack_policy: "explicit" as never, deliver_policy: "all" as never, ack_wait: 60_000_000_000, max_ack_pending: NAIVE_BATCH * 2 });
}

async function naive(js: JetStreamClient, jsm: JetStreamManager, sink: ClickHouseSink): Promise<number> {
  const name = NAIVE_CONSUMER;
  const consumer = await js.consumers.get(STREAM_NAMES.events, name);
  const start = performance.now();
  let done = 0;
  let rows: SwarmEventRow[] = [];
  let pending: JsMsg[] = [];
  const messages = await consumer.consume({ max_messages: NAIVE_BATCH });
  for await (const m of messages) {
    const result = decodeEvent(m.subject, m.data, { streamTimestampMs: Number(m.timestampNanos / 1_000_000n), retentionDays: NAIVE_RETENTION_DAYS });
    if (result.ok) rows.push(result.row);
    pending.push(m);
    if (pending.length === NAIVE_BATCH || done + pending.length === NAIVE_EVENTS) {
      await sink.client.insert({ table: sink.table, values: rows, format: "JSONEachRow" });
      for (const p of pending) await p.ackAck();
      done += pending.length;
      rows = [];
      pending = [];
      if (done >= NAIVE_EVENTS) break;
    }
  }
  const seconds = (performance.now() - start) / 1000;
  await messages.close();
  await jsm.consumers.delete(STREAM_NAMES.events, name); // its interest in the rest of the backlog ends here
  return done / seconds;
}

/** The bus floor's durable consumer: created before the backlog, like the naive one. */
const BUS_FLOOR_CONSUMER = "bench-bus-floor";

async function addBusFloorConsumer(jsm: JetStreamManager, config: IngestorConfig): Promise<void> {
  await jsm.consumers.add(STREAM_NAMES.events, { durable_name: BUS_FLOOR_CONSUMER, ack_policy: "explicit" as never, deliver_policy: "all" as never, ack_wait: 60_000_000_000, max_ack_pending: prefetchMessages(config.batch) * 2 });
}

/**
 * The bus alone: pulls of the production consumer's prefetch (never more than what is left, so
 * no pull waits for its expiry), each batch acked the production way (one command of acks, the
 * last one confirmed); nothing else (no decode, no insert).
 */
async function busFloor(js: JetStreamClient, jsm: JetStreamManager, config: IngestorConfig): Promise<number> {
  const consumer = await js.consumers.get(STREAM_NAMES.events, BUS_FLOOR_CONSUMER);
  const prefetch = prefetchMessages(config.batch);
  const start = performance.now();
  let done = 0;
  while (done < EVENTS) {
    const batch: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: Math.min(prefetch, EVENTS - done), expires: config.nats.pullExpiresMs })) batch.push(m);
    if (batch.length === 0) continue;
    const last = batch[batch.length - 1] as JsMsg;
    ackAllBut(batch, last);
    await last.ackAck();
    done += batch.length;
  }
  const seconds = (performance.now() - start) / 1000;
  await jsm.consumers.delete(STREAM_NAMES.events, BUS_FLOOR_CONSUMER); // its interest in the backlog ends here
  return done / seconds;
}

/**
 * The engine alone: the same events as production blocks (encoded beforehand, not timed), then
 * inserted with the production batch size, insert settings and number of inserts in flight.
 */
async function engineFloor(sink: Sink, config: IngestorConfig): Promise<number> {
  const now = new Date(Date.now() - 3_600_000);
  const blocks: RowBlock[] = [];
  let block = new RowBlock(config.batch.maxBytes);
  for (let i = 0; i < EVENTS; i++) {
    const { subject, event } = swarmEvent(i, new Date(now.getTime() + Math.floor((i / EVENTS) * 3_600_000)));
    const appended = appendEvent(block, subject, toBinary(SwarmEventSchema, event), { streamTimestampMs: now.getTime() + 3_600_000, retentionDays: NAIVE_RETENTION_DAYS });
    if (!appended.ok) throw new Error(`engine floor: event ${i} is refused (${appended.reason}): the generator and the encoder disagree`);
    if (block.length === config.batch.maxRows || block.byteLength >= config.batch.maxBytes) {
      blocks.push(block);
      block = new RowBlock(config.batch.maxBytes);
    }
  }
  if (block.length > 0) blocks.push(block);
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: config.batch.maxInflight }, async () => {
      for (let b = next++; b < blocks.length; b = next++) await sink.insert(blocks[b] as RowBlock, `engine-floor-${batchToken([b])}`);
    }),
  );
  return EVENTS / ((performance.now() - start) / 1000);
}

/** The `timestamp` column (the second) of every TabSeparated row of a block. */
function blockTimestamps(block: RowBlock): string[] {
  const text = block.bytes().toString("latin1");
  const out: string[] = [];
  for (let start = 0; start < text.length; ) {
    const end = text.indexOf("\n", start);
    const first = text.indexOf("\t", start);
    out.push(text.slice(first + 1, text.indexOf("\t", first + 1)));
    start = end + 1;
  }
  return out;
}

/** Latencies, in ms, of every live row: insert end − its event timestamp (= publish time). */
class TimedSink implements Sink {
  readonly latencies: number[] = [];
  recording = false;
  constructor(private readonly inner: Sink) {}
  async insert(rows: InsertRows, token: string): Promise<void> {
    await this.inner.insert(rows, token);
    if (!this.recording) return;
    const end = Date.now();
    const timestamps = rows instanceof RowBlock ? blockTimestamps(rows) : rows.map((r) => r.timestamp);
    for (const t of timestamps) this.latencies.push(end - Date.parse(`${t.replace(" ", "T")}Z`));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "bench-ingest-"));
  const server = await startJetStreamServer({ maxFileStoreMiB: 4096 });
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  // The production configuration; INGESTOR_* variables of this environment (batch size, inserts in flight, …) override it, to try a lever.
  const overrides = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("INGESTOR_")));
  const config = loadIngestorConfig({ ...overrides, INGESTOR_CHDB_PATH: join(dataDir, "chdb"), INGESTOR_HTTP_PORT: "off", INGESTOR_CONSUMER: "bench-ingestor" });
  const sink = await openSink(config.clickhouse);
  try {
    // The ingestor's topology as NACK creates it in a cluster, on one server: no job stream.
    await createTopology(jsm, {
      nats: loadEnvironment("dev").nats,
      tiers: STREAM_TIERS,
      replicas: 1,
      streams: ["events", "deadLetters"],
      maxBytes: { events: 3 * 1024 * 1024 * 1024, deadLetters: 128 * 1024 * 1024 },
      ingestor: { name: config.nats.consumer },
    });
    // What the ingestor checks at start, and the consumer's AckWait for the loop's progress signals.
    const { ackWaitMs } = await checkTopology(jsm, config);
    for (const statement of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await sink.client.command({ query: statement });

    progress(`${STREAM_NAMES.events}: a tenant may hold ${tenantBacklogMessages(STREAM_TIERS)} messages (production: ${tenantBacklogMessages()}), its share of the backlog is up to ${TENANT_BACKLOG}`);
    await addNaiveConsumer(jsm);
    await addBusFloorConsumer(jsm, config);
    progress(`publishing ${EVENTS} events (${TENANTS} tenants, ${AGENTS} agents) to ${STREAM_NAMES.events} on ${server.url}`);
    const published = await publishBacklog(nc, jsm);
    progress(`published in ${published.seconds.toFixed(1)} s; event size ${published.minBytes}-${published.maxBytes} bytes, mean ${published.meanBytes}`);

    progress(`drain: production consumer (batch ${config.batch.maxRows} rows / ${config.batch.maxBytes} bytes / ${config.batch.flushIntervalMs} ms)`);
    const timed = new TimedSink(sink);
    const { eps: drainEps, consumer, cpu } = await drain(js, jsm, timed, sink, config, ackWaitMs, server);
    const drained = await countRows(sink);
    progress(`drain: ${Math.round(drainEps)} events/s; table holds ${drained.rows} rows, ${drained.distinct} distinct (expected ${EVENTS})`);
    progress(`drain CPU per event: JavaScript thread ${cpu.jsThreadUs} µs, rest of the process (engine, GC helpers) ${cpu.engineUs} µs, nats-server ${cpu.natsServerUs} µs (2 cores = ${Math.round(2e6 / (cpu.jsThreadUs + cpu.engineUs + cpu.natsServerUs))} events/s at full use)`);
    if (drained.distinct !== EVENTS) throw new Error(`drain lost events: ${drained.distinct} distinct of ${EVENTS}`);
    await consumer.stop();

    progress(`bus floor: JetStream consume-and-ack alone (pulls of ${prefetchMessages(config.batch)}, batched acks) over the same ${EVENTS} events`);
    const busFloorEps = await busFloor(js, jsm, config);
    progress(`bus floor: ${Math.round(busFloorEps)} events/s`);
    await sink.client.command({ query: `TRUNCATE TABLE ${sink.table}` });
    progress(`engine floor: the engine's insert alone of the same ${EVENTS} rows (${config.batch.maxRows}-row blocks, ${config.batch.maxInflight} in flight)`);
    const engineFloorEps = await engineFloor(sink, config);
    const engineRows = await countRows(sink);
    if (engineRows.distinct !== EVENTS) throw new Error(`engine floor stored ${engineRows.distinct} distinct of ${EVENTS} events`);
    progress(`engine floor: ${Math.round(engineFloorEps)} events/s`);
    const slower = Math.min(busFloorEps, engineFloorEps);
    const drainOfFloor = drainEps / slower;
    progress(`drain = ${drainOfFloor.toFixed(2)} of the slower floor (${busFloorEps < engineFloorEps ? "bus" : "engine"}, ${Math.round(slower)} events/s); target ≥ 0.6`);

    await sink.client.command({ query: `TRUNCATE TABLE ${sink.table}` });
    progress(`naive: per-message decode, ${NAIVE_BATCH}-row inserts, awaited ack per message, over the first ${NAIVE_EVENTS} events`);
    const naiveEps = await naive(js, jsm, sink);
    progress(`naive: ${Math.round(naiveEps)} events/s`);

    await sink.client.command({ query: `TRUNCATE TABLE ${sink.table}` });
    const live = new EventConsumer({ js, sink: timed, tenants: sink, config, ackWaitMs, log: silent, metrics: createIngestorMetrics() });
    void live.start();
    timed.recording = true;
    const liveTarget = LIVE_EPS_OVERRIDE ?? Math.max(1, Math.round(drainEps / 2));
    progress(`live: ${liveTarget} events/s (${LIVE_EPS_OVERRIDE === undefined ? "half the drain measured above" : "BENCH_LIVE_EPS"}) for ${LIVE_SECONDS} s from a paced publisher`);
    const seqBefore = (await jsm.streams.info(STREAM_NAMES.events)).state.last_seq;
    const job: LiveJob = { url: server.url, eps: liveTarget, seconds: LIVE_SECONDS };
    const publisher = fork(fileURLToPath(import.meta.url), [LIVE_PUBLISHER_FLAG, JSON.stringify(job)], { execArgv: ["--import", "tsx"] });
    const result = await new Promise<{ sent: number; seconds: number }>((resolve, reject) => {
      publisher.once("message", (m) => resolve(m as { sent: number; seconds: number }));
      publisher.once("error", reject);
      publisher.once("exit", (code) => reject(new Error(`the live publisher exited with ${code} before reporting`)));
    });
    await waitDrained(jsm, live, config.nats.consumer, seqBefore + result.sent, 0, result.sent);
    timed.recording = false;
    await live.stop();
    const liveRows = await countRows(sink);
    const latencies = Float64Array.from(timed.latencies).sort();
    const liveEps = result.sent / result.seconds;
    const p50 = percentile(Array.from(latencies), 50);
    const p99 = percentile(Array.from(latencies), 99);
    progress(`live: published ${result.sent} in ${result.seconds.toFixed(1)} s (${Math.round(liveEps)}/s); ${liveRows.distinct} distinct rows queryable; latency p50 ${p50} ms, p99 ${p99} ms, max ${latencies[latencies.length - 1]} ms`);
    if (liveRows.distinct !== result.sent) throw new Error(`live run lost events: ${liveRows.distinct} of ${result.sent}`);

    const rssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    progress(`peak RSS: bench process ${rssMb} MB, nats-server ${Math.round(processMemoryBytes(server.pid, "VmHWM") / 1024 / 1024)} MB`);
    const out = {
      drain_eps: Math.round(drainEps),
      naive_eps: Math.round(naiveEps),
      ratio: Number((drainEps / naiveEps).toFixed(1)),
      bus_floor_eps: Math.round(busFloorEps),
      engine_floor_eps: Math.round(engineFloorEps),
      drain_of_floor: Number(drainOfFloor.toFixed(2)),
      cpu_us_per_event: { js_thread: cpu.jsThreadUs, engine: cpu.engineUs, nats_server: cpu.natsServerUs, total: Math.round((cpu.jsThreadUs + cpu.engineUs + cpu.natsServerUs) * 10) / 10 },
      live_target_eps: liveTarget,
      live_eps: Math.round(liveEps),
      live_p99_ms: p99,
      rss_mb: rssMb,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await nc.close();
    await sink.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const LIVE_PUBLISHER_FLAG = "--live-publisher";
if (process.argv[2] === LIVE_PUBLISHER_FLAG) {
  await livePublisher(JSON.parse(process.argv[3] ?? "{}") as LiveJob);
} else {
  await main();
}
