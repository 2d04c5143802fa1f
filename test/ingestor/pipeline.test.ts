/**
 * The ingestor end to end: a real nats-server (JetStream, file store) and the real ClickHouse
 * engine (chdb), the ingestor in-process (its sink running as the ingestor principal) or as a
 * child process that is SIGKILLed and SIGTERMed. Every scenario uses its own tenants, and the
 * exactly-once audit (rows = distinct = expected, nothing missing) runs on `swarm_events FINAL`.
 */
import { AckPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { DEFAULT_PLAN_TIER, PLAN_TIERS } from "../../config/tiers.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { qualified, SWARM_EVENTS_TABLE, type SwarmEventRow } from "../../services/clickhouse-schema/index.js";
import { decodeEvent } from "../../services/ingestor/src/event.js";
import { STREAM_NAMES } from "../../services/nats-auth/streams.js";
import { loadIngestorConfig, IngestorConfigError, type IngestorConfig } from "../../services/ingestor/src/config.js";
import { blockTimeBucketMs, DLQ_HEADERS, DLQ_STREAM, dlqSubject, parseDelivery } from "../../services/ingestor/src/consumer.js";
import { startIngestor } from "../../services/ingestor/src/main.js";
import { checkTopology, IngestorStartError } from "../../services/ingestor/src/topology.js";
import { ingestorConsumerConfig } from "../../services/nats-auth/consumers.js";
import { addConsumer, LOCAL_INGESTOR_REPLICAS } from "../../services/nats-auth/topology.js";
import { ClickHouseSink, type Sink } from "../../services/ingestor/src/sink.js";
import { ADMIN, EmbeddedClickHouse, INGESTOR } from "../support/chdb.js";
import { audit, collectingLogger, INSERTED_MARKER, IngestorProcess, makeEvents, publishAll, until, type PublishedEvent } from "../support/ingestor.js";
import { PIPELINE_ACK_WAIT_MS, PIPELINE_CONSUMER, startPipelineFixture, type PipelineFixture } from "../support/pipeline.js";

const TABLE = qualified(SWARM_EVENTS_TABLE);
const FINAL = `${TABLE} FINAL`;
const CONSUMER = PIPELINE_CONSUMER;
const ACK_WAIT_MS = PIPELINE_ACK_WAIT_MS;

let fixture: PipelineFixture;
let js: JetStreamClient;
let jsm: JetStreamManager;
let engine: EmbeddedClickHouse;

/** The environment every ingestor of this file runs with. */
function ingestorEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return fixture.ingestorEnv({ INGESTOR_BATCH_MAX_ROWS: "5000", ...extra });
}

async function consumerInfo() {
  return jsm.consumers.info(STREAM_NAMES.events, CONSUMER);
}

/** Every message of the stream is delivered and acked (or terminated). */
const drained = (): Promise<boolean> => fixture.drained(CONSUMER);

/** Runs the ingestor in this process on the engine, its sink running as the ingestor principal. */
async function inProcess<T>(fn: (ctx: { config: IngestorConfig; log: ReturnType<typeof collectingLogger>; start: (sink?: (real: Sink) => Sink) => ReturnType<typeof startIngestor> }) => Promise<T>, env: Readonly<Record<string, string>> = {}): Promise<T> {
  return engine.as(INGESTOR, async (client) => {
    const config = loadIngestorConfig(ingestorEnv(env));
    const log = collectingLogger();
    const store = new ClickHouseSink(client);
    const real: Sink = { insert: (rows, token) => store.insert(rows, token), close: async () => {} };
    // Tenants' plans and usage from the same engine, as the configured sink reads them.
    return fn({ config, log, start: (wrap) => startIngestor(config, log, wrap ? wrap(real) : real, { tenants: store }) });
  });
}

function decodeRow(e: PublishedEvent): SwarmEventRow {
  const r = decodeEvent(e.subject, e.data, { streamTimestampMs: Date.now(), retentionDays: PLAN_TIERS[DEFAULT_PLAN_TIER].events.retentionDays });
  if (!r.ok) throw new Error(`control event refused: ${r.reason} ${r.detail}`);
  return r.row;
}

/**
 * The insert blocks the consumer cuts `count` stored messages from `firstSeq` into, when all of them
 * arrive in one pull: one per window of `INGESTOR_BATCH_MAX_ROWS` (5,000 here) stream sequences and
 * bucket of stored time (`blockTimeBucketMs`), read from the stream.
 */
async function blocksOf(firstSeq: number, count: number): Promise<number> {
  const config = loadIngestorConfig(ingestorEnv());
  const bucketMs = blockTimeBucketMs(config.batch.flushIntervalMs);
  const keys = new Set<string>();
  for (let seq = firstSeq; seq < firstSeq + count; seq++) {
    const m = await jsm.streams.getMessage(STREAM_NAMES.events, { seq });
    keys.add(`${Math.floor(seq / config.batch.maxRows)}:${Math.floor((m?.time.getTime() ?? 0) / bucketMs)}`);
  }
  return keys.size;
}

function ids(events: readonly PublishedEvent[]): string[] {
  return events.map((e) => e.eventId);
}

beforeAll(async () => {
  fixture = await startPipelineFixture();
  ({ js, jsm, engine } = fixture);
}, 30_000);

afterAll(async () => {
  await fixture?.stop();
});

describe("ingestor configuration", () => {
  it("has documented defaults and names the variable of a bad value", () => {
    const c = loadIngestorConfig({});
    expect(c.batch).toEqual({ maxRows: 10_000, maxBytes: 8 * 1024 * 1024, flushIntervalMs: 1000, maxInflight: 2 });
    // MaxAckPending and MaxDeliver are the declared consumer's (no longer variables): room for
    // each replica's prefetch, and unlimited deliveries. The start check's refusals are below.
    expect(ingestorConsumerConfig({ maxReplicas: LOCAL_INGESTOR_REPLICAS }).max_ack_pending).toBe(LOCAL_INGESTOR_REPLICAS * 30_000);
    expect(c.clickhouse).toEqual({ kind: "embedded", path: "./.data/chdb" });
    expect(ingestorConsumerConfig({ maxReplicas: 1 }).max_deliver).toBe(-1);
    // A SIGTERM waits out the open pull requests, so their life follows the shutdown bound.
    expect(c.nats.pullExpiresMs).toBe(5_000);
    expect(loadIngestorConfig({ INGESTOR_SHUTDOWN_TIMEOUT_MS: "4000" }).nats.pullExpiresMs).toBe(2_000);
    expect(loadIngestorConfig({ INGESTOR_SHUTDOWN_TIMEOUT_MS: "500" }).nats.pullExpiresMs).toBe(1_000);
    expect(() => loadIngestorConfig({ INGESTOR_SHUTDOWN_TIMEOUT_MS: "4000", INGESTOR_PULL_EXPIRES_MS: "3000" })).toThrow(/INGESTOR_PULL_EXPIRES_MS = "3000" is more than half of INGESTOR_SHUTDOWN_TIMEOUT_MS = 4000.*Fix: set it to at most 2000/);
    expect(loadIngestorConfig({ INGESTOR_CLICKHOUSE_URL: "http://ch:8123" }).clickhouse).toMatchObject({ kind: "http", username: "swarm_ingestor" });
    for (const [name, value] of [
      ["INGESTOR_BATCH_MAX_ROWS", "lots"],
      ["INGESTOR_ACK_WAIT_MS", "10"],
      ["INGESTOR_CLICKHOUSE_URL", "ftp://x"],
      ["INGESTOR_BACKOFF_MS", "1000,2000"],
      ["INGESTOR_NATS_URL", "localhost"],
      ["INGESTOR_PULL_EXPIRES_MS", "500"],
      // Variables that served the consumer's creation are refused, not silently ignored.
      ["INGESTOR_MAX_ACK_PENDING", "20000"],
      ["INGESTOR_ENSURE_CONSUMER", "true"],
    ] as const) {
      let error: unknown;
      try {
        loadIngestorConfig({ [name]: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(IngestorConfigError);
      expect((error as IngestorConfigError).variable).toBe(name);
      expect((error as Error).message).toContain(name);
    }
  });
});

describe("the start check of the JetStream topology (the ingestor creates none of it)", () => {
  const stub: Sink = { insert: async () => {}, close: async () => {} };

  it("refuses a removed creation variable, naming what replaced it", () => {
    expect(() => loadIngestorConfig({ INGESTOR_ACK_WAIT_MS: "30000" })).toThrow(/INGESTOR_ACK_WAIT_MS = "30000" is no longer read: .*the consumer's ack_wait.*Fix: unset INGESTOR_ACK_WAIT_MS/);
  });

  it("refuses to start when its durable consumer is missing, naming the consumer and the fix, and creates nothing", async () => {
    const log = collectingLogger();
    const start = startIngestor(loadIngestorConfig(ingestorEnv({ INGESTOR_CONSUMER: "undeclared-ingestor" })), log, stub);
    await expect(start).rejects.toBeInstanceOf(IngestorStartError);
    await expect(start).rejects.toThrow(/^consumer = "undeclared-ingestor" does not exist on SWARM_EVENTS \(the ingestor no longer creates it\)\. Fix: create it from ingestorConsumerConfig: the Ingestor construct's NACK Consumer in a cluster, createTopology\(jsm, \{ ingestor: \{ name: "undeclared-ingestor" \} \}\) locally/);
    await expect(jsm.consumers.info(STREAM_NAMES.events, "undeclared-ingestor")).rejects.toThrow(/consumer not found/);
  });

  it("exits 1 as a process when its consumer is missing, with the same message", async () => {
    const child = IngestorProcess.spawn(ingestorEnv({ INGESTOR_CONSUMER: "undeclared-child" }));
    expect(await child.wait()).toEqual({ code: 1, signal: null });
    expect(child.output).toContain('"msg":"start failed"');
    expect(child.output).toMatch(/consumer = \\"undeclared-child\\" does not exist on SWARM_EVENTS/);
  }, 20_000);

  it("refuses a consumer with a setting it cannot run with, naming the consumer, the setting and the fix, and changes nothing", async () => {
    const declared = (name: string) => ingestorConsumerConfig({ name, maxReplicas: 1 });
    await addConsumer(jsm, { ...declared("ack-all"), ack_policy: AckPolicy.All });
    await expect(startIngestor(loadIngestorConfig(ingestorEnv({ INGESTOR_CONSUMER: "ack-all" })), collectingLogger(), stub)).rejects.toThrow(
      /^consumer ack-all on SWARM_EVENTS: ack_policy = "all" is not explicit: .*\. Fix: recreate it with ack_policy explicit; the consumer is declared by ingestorConsumerConfig/,
    );
    expect((await jsm.consumers.info(STREAM_NAMES.events, "ack-all")).config.ack_policy).toBe(AckPolicy.All);

    // MaxAckPending below one replica's prefetch would keep batches from filling.
    await addConsumer(jsm, { ...declared("small-pending"), max_ack_pending: 20_000 });
    await expect(checkTopology(jsm, loadIngestorConfig({ INGESTOR_CONSUMER: "small-pending" }))).rejects.toThrow(
      /consumer small-pending on SWARM_EVENTS: max_ack_pending = 20000 is below this replica's prefetch of 30000 messages.*Fix: declare it for the replicas that share it \(max replicas × 30000\)/,
    );
    expect((await checkTopology(jsm, loadIngestorConfig({ INGESTOR_CONSUMER: "small-pending", INGESTOR_BATCH_MAX_ROWS: "5000" }))).maxAckPending).toBe(20_000);

    // An AckWait not above the flush interval would redeliver messages while their batch fills.
    await addConsumer(jsm, { ...declared("short-ack-wait"), ack_wait: 1_000_000_000 });
    await expect(checkTopology(jsm, loadIngestorConfig({ INGESTOR_CONSUMER: "short-ack-wait", INGESTOR_FLUSH_INTERVAL_MS: "1000" }))).rejects.toThrow(
      /consumer short-ack-wait on SWARM_EVENTS: ack_wait = "1000 ms" is not above INGESTOR_FLUSH_INTERVAL_MS = 1000/,
    );
    expect((await checkTopology(jsm, loadIngestorConfig({ INGESTOR_CONSUMER: "short-ack-wait", INGESTOR_FLUSH_INTERVAL_MS: "200" }))).ackWaitMs).toBe(1_000);
    for (const name of ["ack-all", "small-pending", "short-ack-wait"]) await jsm.consumers.delete(STREAM_NAMES.events, name);
  });
});

describe("delivery info from the ack subject", () => {
  it("reads the stream sequence, delivery count and stored time (to the millisecond, exactly) of both subject forms", () => {
    expect(parseDelivery("$JS.ACK._.ACCHASH.SWARM_EVENTS.swarm-ingestor.2.1234.1200.1764072000123456789.17.Xy9")).toEqual({ streamSeq: 1234, deliveryCount: 2, timestampMs: 1764072000123 });
    expect(parseDelivery("$JS.ACK.hub.ACCHASH.SWARM_EVENTS.swarm-ingestor.1.9007199254740991.1.1764072000999999999.0")).toEqual({ streamSeq: 9007199254740991, deliveryCount: 1, timestampMs: 1764072000999 });
    expect(parseDelivery("$JS.ACK.SWARM_EVENTS.swarm-ingestor.1.55.54.1764072000000999999.0")).toEqual({ streamSeq: 55, deliveryCount: 1, timestampMs: 1764072000000 });
    for (const bad of ["", "_INBOX.x", "$JS.ACK.a.b", "$JS.ACK.SWARM_EVENTS.c.1.x.1.1764072000000000000.0", "$JS.ACK._.H.S.c.1.2.3.4.", "$JS.ACK._.H.S.c.1.2.3.17640720000000000a0.0"]) {
      expect(parseDelivery(bad), bad).toBeUndefined();
    }
  });

});

describe("ingestor pipeline", () => {
  it("(1) lands 5,000 events of 5 tenants exactly once and leaves nothing unacked", async () => {
    const tenants = ["one-a", "one-b", "one-c", "one-d", "one-e"];
    const events = makeEvents(tenants, 5_000, 1);
    await inProcess(async ({ start }) => {
      const running = await start();
      await publishAll(js, events);
      await until(drained, "all 5,000 acked");
      const health = running.consumer.health();
      await running.stop();
      expect(health).toMatchObject({ state: "running", ready: true, rowsInserted: 5_000, deadLettered: 0, insertRetries: 0 });
    });
    const info = await consumerInfo();
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    const result = await engine.as(ADMIN, (c) => audit(c, FINAL, tenants, ids(events)));
    expect(result).toEqual({ rows: 5_000, distinct: 5_000, missing: 0, unexpected: 0 });
  }, 30_000);

  it("(2) dead-letters the one poison message of a 1,000-event backlog with reason, subject and sequence; 999 land; no redelivery", async () => {
    const tenants = ["two-a", "two-b"];
    const events = makeEvents(tenants, 1_000, 2);
    const poisonIndex = 500;
    const poison = events[poisonIndex];
    if (!poison) throw new Error("no poison event");
    // The payload of two-a published on two-b's subject: a tenant writing into another's history.
    const bad = { ...poison, subject: poison.subject.replace(/^swarm\.two-[ab]\./, (s) => (s.includes("two-a") ? "swarm.two-b." : "swarm.two-a.")) };
    const batch = events.map((e, i) => (i === poisonIndex ? bad : e));
    const firstSeq = (await jsm.streams.info(STREAM_NAMES.events)).state.last_seq + 1;
    await publishAll(js, batch); // all stored before the ingestor starts: one fetch takes the 1,000
    const poisonSeq = firstSeq + poisonIndex;

    await inProcess(async ({ start }) => {
      const running = await start();
      await until(drained, "the batch acked or terminated");
      // Longer than AckWait: a terminated message would have come back by now if it could.
      await new Promise((r) => setTimeout(r, ACK_WAIT_MS + 1_000));
      const health = running.consumer.health();
      await running.stop();
      expect(health).toMatchObject({ rowsInserted: 999, deadLettered: 1, insertRetries: 0 });
      // At least one block per stream-sequence window and stored-time bucket the backlog spans; the
      // flush timer may also cut a window while a slow pull is still delivering it (a loaded
      // machine: seen in CI as 2 blocks for 1 window), so an exact count would depend on timing.
      expect(health.batches).toBeGreaterThanOrEqual(await blocksOf(firstSeq, batch.length));
    });

    const dlq = await jsm.streams.info(DLQ_STREAM);
    expect(dlq.state.messages).toBe(1);
    const letter = await jsm.streams.getMessage(DLQ_STREAM, { last_by_subj: dlqSubject("tenant-mismatch") });
    expect(letter?.header.get(DLQ_HEADERS.reason)).toBe("tenant-mismatch");
    // The subject as SWARM_EVENTS stores it: its transform keeps the tenant token only.
    expect(letter?.header.get(DLQ_HEADERS.subject)).toBe(bad.subject.replace(/^(swarm\.[^.]+)\.[^.]+\.events$/, "$1.events"));
    expect(letter?.header.get(DLQ_HEADERS.streamSeq)).toBe(String(poisonSeq));
    expect(letter?.header.get(DLQ_HEADERS.detail)).toMatch(/tenant_id "two-[ab]" was published on subject/);
    expect(Buffer.from(letter?.data ?? new Uint8Array()).equals(Buffer.from(bad.data))).toBe(true);
    const info = await consumerInfo();
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);

    const good = ids(events.filter((_, i) => i !== poisonIndex));
    const result = await engine.as(ADMIN, (c) => audit(c, FINAL, tenants, good));
    expect(result).toEqual({ rows: 999, distinct: 999, missing: 0, unexpected: 0 });
  }, 30_000);

  it("holds about one prefetch while its sink is stalled (nats.js pulls only as the loop takes messages), then lands every event once", async () => {
    const tenants = ["hold-a", "hold-b"];
    const events = makeEvents(tenants, 5_000, 21);
    let release = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const stalled = (real: Sink): Sink => ({
      async insert(rows, token) {
        await gate;
        await real.insert(rows, token);
      },
      close: async () => {},
    });
    const ROWS = 100;
    const prefetch = ROWS * 3; // maxRows × (maxInflight + 1): 300, a 17th of the stream
    await inProcess(
      async ({ start }) => {
        const running = await start(stalled);
        await publishAll(js, events, 100);
        // All 5,000 are in the stream and the consumer's MaxAckPending (120,000) would let the server send them all.
        await new Promise((r) => setTimeout(r, 1_000));
        const stalledHealth = running.consumer.health();
        release();
        await until(drained, "all 5,000 acked after the sink came back", 30_000);
        await running.stop();
        expect(stalledHealth.rowsInserted).toBe(0);
        expect(stalledHealth.backlogPeak).toBeGreaterThanOrEqual(2 * ROWS); // the two stalled batches, at least
        expect(stalledHealth.backlogPeak).toBeLessThanOrEqual(2 * prefetch);
        // Draining at full speed after the stall, a replica holds what nats.js has asked for and
        // not yet received (at most one prefetch: it re-asks for max_messages − pending), what it
        // received and the loop has not taken yet (up to two more: a refill request goes out only
        // when the loop reaches it in the queue, behind what earlier requests delivered), and the
        // batches filling and in flight (one more). Bounded by the prefetch, not by the 5,000 in
        // the stream nor the 120,000 MaxAckPending. Measured with 200-row batches: 1,353–1,959
        // (3.3 × prefetch) on a loaded 2-core machine, at this commit and at the one before it.
        expect(running.consumer.health().backlogPeak).toBeLessThanOrEqual(4 * prefetch);
      },
      { INGESTOR_BATCH_MAX_ROWS: String(ROWS) },
    );
    expect((await consumerInfo()).num_ack_pending).toBe(0);
    const result = await engine.as(ADMIN, (c) => audit(c, FINAL, tenants, ids(events)));
    expect(result).toEqual({ rows: 5_000, distinct: 5_000, missing: 0, unexpected: 0 });
  }, 60_000);

  it("(4) rides out a transient sink outage (failures before and after the write) without losing or doubling a row", async () => {
    const tenants = ["four-a", "four-b", "four-c"];
    const events = makeEvents(tenants, 2_000, 4);
    let calls = 0;
    let outageUntil = 0;
    const outage = (real: Sink): Sink => ({
      async insert(rows, token) {
        calls++;
        if (Date.now() < outageUntil) {
          const refused = Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:8123"), { code: "ECONNREFUSED" });
          // Every other failure happens after ClickHouse stored the block (the reply was lost).
          if (calls % 2 === 0) await real.insert(rows, token);
          throw refused;
        }
        await real.insert(rows, token);
      },
      close: async () => {},
    });
    let sawRetrying = false;
    await inProcess(async ({ start, log }) => {
      outageUntil = Date.now() + 3_000;
      const running = await start(outage);
      const publishing = publishAll(js, events, 50);
      while (Date.now() < outageUntil) {
        const h = running.consumer.health();
        if (h.state === "retrying") {
          sawRetrying = true;
          expect(h.ready).toBe(true);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await publishing;
      await until(drained, "all 2,000 acked after the outage");
      const health = running.consumer.health();
      await running.stop();
      expect(health.insertRetries).toBeGreaterThan(3);
      expect(health.state).toBe("running");
      expect(log.lines.some((l) => l.msg.startsWith("transient sink failure"))).toBe(true);
    });
    expect(sawRetrying).toBe(true);
    expect((await consumerInfo()).num_redelivered).toBe(0);
    // No FINAL: the retried blocks were deduplicated at insert (same token), not only at read.
    const raw = await engine.as(ADMIN, (c) => audit(c, TABLE, tenants, ids(events)));
    expect(raw).toEqual({ rows: 2_000, distinct: 2_000, missing: 0, unexpected: 0 });
  }, 30_000);

  it("stops acking and turns unready on a permanent sink error (UNKNOWN_TABLE), then a healthy replica lands everything", async () => {
    const tenants = ["perm-a"];
    const events = makeEvents(tenants, 300, 6);
    await publishAll(js, events);
    const missingTable = (): Sink => ({
      insert: async () => {
        throw Object.assign(new Error("Table enchanted.swarm_events does not exist."), { code: "60", type: "UNKNOWN_TABLE" });
      },
      close: async () => {},
    });
    await inProcess(async ({ start, log }) => {
      const running = await start(missingTable);
      await until(() => running.consumer.health().state === "failed", "the failed state");
      const health = running.consumer.health();
      expect(health).toMatchObject({ ready: false, rowsInserted: 0 });
      expect(health.lastError).toMatch(/permanent, code 60 UNKNOWN_TABLE/);
      expect(log.lines.some((l) => l.level === "error" && l.msg.startsWith("PERMANENT"))).toBe(true);
      expect((await consumerInfo()).num_ack_pending).toBe(300);
      await running.stop();
      expect(running.consumer.health().state).toBe("failed");
    });
    await inProcess(async ({ start }) => {
      const running = await start();
      await until(drained, "redelivered and acked by a healthy ingestor", 10_000);
      await running.stop();
    });
    const result = await engine.as(ADMIN, (c) => audit(c, FINAL, tenants, ids(events)));
    expect(result).toEqual({ rows: 300, distinct: 300, missing: 0, unexpected: 0 });
  }, 30_000);

  it("(3) survives 20 SIGKILLs (10 exactly between insert and ack) with every event counted once; the checker catches duplicates without dedup", async () => {
    const tenants = ["three-a", "three-b", "three-c", "three-d"];
    const events = makeEvents(tenants, 3_000, 3);
    const KILLS = 20;
    let published = 0;
    const deliveredBefore = (await consumerInfo()).delivered.consumer_seq;
    const publisher = (async () => {
      for (let i = 0; i < events.length; i += 25) {
        await publishAll(js, events.slice(i, i + 25), 25);
        published = Math.min(events.length, i + 25);
        await new Promise((r) => setTimeout(r, 150)); // ~20 s of flow: it spans the kills
      }
    })();
    let betweenInsertAndAck = 0;
    for (let k = 0; k < KILLS; k++) {
      const child = IngestorProcess.spawn(ingestorEnv({ INGESTOR_TEST_PAUSE_AFTER_INSERT_MS: "300" }));
      try {
        await child.waitFor("ingestor ready");
        if (k % 2 === 0) {
          // The insert has returned; the acks wait 300 ms behind the marker: kill now.
          await child.waitFor(INSERTED_MARKER, 10_000);
          betweenInsertAndAck++;
        } else {
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1_200)));
        }
      } finally {
        const exit = await child.kill("SIGKILL");
        expect(exit.signal).toBe("SIGKILL");
      }
    }
    await publisher;
    expect(published).toBe(events.length);
    expect(betweenInsertAndAck).toBe(KILLS / 2);

    const final = IngestorProcess.spawn(ingestorEnv());
    await final.waitFor("ingestor ready");
    await until(drained, "everything acked after the last restart", 30_000);
    await final.kill("SIGTERM");

    const [result, raw] = await engine.as(ADMIN, async (c) => [await audit(c, FINAL, tenants, ids(events)), await audit(c, TABLE, tenants, ids(events))] as const);
    expect(result).toEqual({ rows: 3_000, distinct: 3_000, missing: 0, unexpected: 0 });
    expect(raw.distinct).toBe(3_000);
    expect(raw.rows).toBeGreaterThanOrEqual(3_000);
    // The kills did force redeliveries of batches whose rows were already inserted (10 kills fell
    // between insert and ack): JetStream delivered more than it stored. Copies they wrote may have
    // been merged away already, so the proof that duplicates cannot show is the count above plus
    // the negative control below, not the raw row count.
    const deliveries = (await consumerInfo()).delivered.consumer_seq - deliveredBefore;
    expect(deliveries, "deliveries during the kill phase").toBeGreaterThan(3_000);

    // Negative control: the same checker on storage without deduplication must see the copies
    // that a redelivery writes (one batch inserted twice under different tokens).
    const control = makeEvents(["ctl-a"], 100, 99);
    const controlRows = control.map(decodeRow);
    const [plain, unmerged] = await engine.as(ADMIN, async (c) => {
      await c.command({ query: `CREATE TABLE ${TABLE}_nodedup AS ${TABLE} ENGINE = MergeTree ORDER BY (tenant_id, event_id)` });
      const plainSink = new ClickHouseSink(c, async () => {}, `${TABLE}_nodedup`);
      const realSink = new ClickHouseSink(c);
      for (const token of ["delivery-1", "delivery-2"]) {
        await plainSink.insert(controlRows, token);
        await realSink.insert(controlRows, token);
      }
      return [await audit(c, `${TABLE}_nodedup`, ["ctl-a"], ids(control)), await audit(c, TABLE, ["ctl-a"], ids(control))] as const;
    });
    expect(plain).toEqual({ rows: 200, distinct: 100, missing: 0, unexpected: 0 });
    expect(unmerged).toEqual({ rows: 200, distinct: 100, missing: 0, unexpected: 0 });
    const fixed = await engine.as(ADMIN, (c) => audit(c, FINAL, ["ctl-a"], ids(control)));
    expect(fixed).toEqual({ rows: 100, distinct: 100, missing: 0, unexpected: 0 });
  }, 90_000);

  it("(5) SIGTERM mid-stream exits 0 within the bound, leaves nothing unacked, and loses nothing", async () => {
    const tenants = ["five-a", "five-b"];
    const events = makeEvents(tenants, 3_000, 5);
    const BOUND_MS = 5_000;
    const child = IngestorProcess.spawn(ingestorEnv({ INGESTOR_SHUTDOWN_TIMEOUT_MS: String(BOUND_MS), INGESTOR_BATCH_MAX_ROWS: "200", INGESTOR_HTTP_PORT: "0" }));
    await child.waitFor("ingestor ready");
    const port = /"httpPort":(\d+)/.exec(child.output)?.[1];
    expect(port).toBeDefined();
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ state: "running", ready: true });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const firstSeq = (await jsm.streams.info(STREAM_NAMES.events)).state.last_seq + 1;
    const publishing = publishAll(js, events, 20);
    publishing.catch(() => {}); // awaited below; a failed assertion before that must not leave it unhandled
    await until(async () => (await consumerInfo()).ack_floor.stream_seq >= firstSeq + 400, "some batches acked");
    const t0 = Date.now();
    const exit = await child.kill("SIGTERM");
    const took = Date.now() - t0;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(took).toBeLessThan(BOUND_MS);
    expect(child.output).toContain('"msg":"stopped"');
    const info = await consumerInfo();
    expect(info.num_ack_pending).toBe(0);
    const acked = info.ack_floor.stream_seq - firstSeq + 1;
    expect(acked).toBeGreaterThan(400);
    await publishing;

    // What it acked is stored; a restarted ingestor takes the rest.
    const stored = await engine.as(ADMIN, (c) => audit(c, FINAL, tenants, ids(events)));
    expect(stored.rows).toBe(acked);
    expect(stored.distinct).toBe(acked);
    const next = IngestorProcess.spawn(ingestorEnv());
    await next.waitFor("ingestor ready");
    await until(drained, "the rest acked");
    expect(await next.kill("SIGTERM")).toEqual({ code: 0, signal: null });
    const result = await engine.as(ADMIN, (c) => audit(c, FINAL, tenants, ids(events)));
    expect(result).toEqual({ rows: 3_000, distinct: 3_000, missing: 0, unexpected: 0 });
  }, 30_000);
});

// Last: its event stays in the stream (deletes are denied), after the tests that count every row.
describe("delivery info of a real message", () => {
  it("agrees with nats.js on a real delivery", async () => {
    const [event] = makeEvents(["delivery-a"], 1, 77);
    await publishAll(js, event ? [event] : []);
    const consumer = await js.consumers.get(STREAM_NAMES.events);
    const m = await consumer.next({ expires: 5_000 });
    expect(m).not.toBeNull();
    const reply = (m as unknown as { reply: string }).reply;
    expect(parseDelivery(reply)).toEqual({ streamSeq: m?.info.streamSequence, deliveryCount: m?.info.deliveryCount, timestampMs: Number((m?.timestampNanos ?? 0n) / 1_000_000n) });
  });
});
