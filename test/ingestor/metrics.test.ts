/**
 * The ingestor's Prometheus metrics and pino logs against a real nats-server and the real
 * ClickHouse engine (chdb): `/metrics` read over HTTP after an in-process run with a poison
 * message, and two child-process replicas sharing the durable consumer, one SIGKILLed
 * mid-stream. chdb lets one process open its data at a time, so the replicas write through
 * {@link ClickHouseHttpFront}: the HTTP interface, served by this process on the engine.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INGESTOR_METRIC_NAMES } from "../../constructs/ingestor.js";
import { qualified, SWARM_EVENTS_TABLE } from "../../services/clickhouse-schema/index.js";
import { IngestorConfigError, loadIngestorConfig } from "../../services/ingestor/src/config.js";
import { startIngestor } from "../../services/ingestor/src/main.js";
import { createIngestorMetrics, INGESTOR_METRICS } from "../../services/ingestor/src/metrics.js";
import { ClickHouseSink, type Sink } from "../../services/ingestor/src/sink.js";
import { STREAM_NAMES } from "../../services/nats-auth/streams.js";
import { ADMIN, INGESTOR } from "../support/chdb.js";
import {
  audit,
  ClickHouseHttpFront,
  collectingLogger,
  IngestorProcess,
  loggedHttpPort,
  makeEvents,
  metricValue,
  publishAll,
  scrapeMetrics,
  until,
} from "../support/ingestor.js";
import { PIPELINE_CONSUMER, startPipelineFixture, type PipelineFixture } from "../support/pipeline.js";

const FINAL = `${qualified(SWARM_EVENTS_TABLE)} FINAL`;
const CONSUMER = PIPELINE_CONSUMER;
const M = INGESTOR_METRIC_NAMES;

let fixture: PipelineFixture;

/** The environment every ingestor of this file runs with. */
function ingestorEnv(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return fixture.ingestorEnv({ INGESTOR_HTTP_PORT: "0", ...extra });
}

/** Every message of the stream is delivered and acked (or terminated). */
const drained = (): Promise<boolean> => fixture.drained(CONSUMER);

beforeAll(async () => {
  fixture = await startPipelineFixture();
}, 30_000);

afterAll(async () => {
  await fixture?.stop();
});

describe("ingestor metrics and logs", () => {
  it("exports exactly the metrics constructs/ingestor.ts declares, on a registry of its own", async () => {
    expect(INGESTOR_METRICS).toEqual(INGESTOR_METRIC_NAMES);
    const metrics = createIngestorMetrics();
    const exported = (await metrics.registry.getMetricsAsJSON()).map((m) => ({ name: m.name, type: String(m.type) }));
    expect(exported.sort((a, b) => a.name.localeCompare(b.name))).toEqual(
      Object.values(M)
        .map((m) => ({ name: m.name, type: m.type }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
  });

  it("rejects an unknown INGESTOR_LOG_LEVEL, naming the variable, and defaults to info", () => {
    expect(loadIngestorConfig({}).logLevel).toBe("info");
    expect(loadIngestorConfig({ INGESTOR_LOG_LEVEL: "DEBUG" }).logLevel).toBe("debug");
    expect(() => loadIngestorConfig({ INGESTOR_LOG_LEVEL: "verbose" })).toThrow(IngestorConfigError);
    expect(() => loadIngestorConfig({ INGESTOR_LOG_LEVEL: "verbose" })).toThrow(/INGESTOR_LOG_LEVEL = "verbose"/);
  });

  it("counts 1,000 consumed, 999 inserted and 1 tenant-mismatch dead letter on GET /metrics", async () => {
    const N = 1_000;
    const tenants = ["met-a", "met-b"];
    const events = makeEvents(tenants, N, 11);
    const poisonIndex = 321;
    // met-a's payload on met-b's subject (or the reverse): refused as tenant-mismatch.
    const batch = events.map((e, i) => (i === poisonIndex ? { ...e, subject: e.subject.replace(/^swarm\.met-([ab])\./, (_, t: string) => `swarm.met-${t === "a" ? "b" : "a"}.`) } : e));
    await publishAll(fixture.js, batch);
    const log = collectingLogger();
    const scraped = await fixture.engine.as(INGESTOR, async (client) => {
      const store = new ClickHouseSink(client);
      const sink: Sink = { insert: (rows, token) => store.insert(rows, token), close: async () => {} };
      const running = await startIngestor(loadIngestorConfig(ingestorEnv()), log, sink, { tenants: store });
      try {
        await until(drained, "the 1,000 acked or terminated");
        if (running.httpPort === undefined) throw new Error("no metrics port");
        return await scrapeMetrics(running.httpPort);
      } finally {
        await running.stop();
      }
    });
    const { status, contentType, text } = scraped;
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const m of Object.values(M)) expect(text, m.name).toContain(`# TYPE ${m.name} ${m.type}`);
    expect(metricValue(text, M.consumed.name)).toBe(N);
    expect(metricValue(text, M.redelivered.name)).toBe(0);
    expect(metricValue(text, M.inserted.name)).toBe(N - 1);
    expect(metricValue(text, M.deadLettered.name, { reason: "tenant-mismatch" })).toBe(1);
    expect(metricValue(text, M.insertErrors.name, { kind: "transient" })).toBe(0);
    expect(metricValue(text, M.insertErrors.name, { kind: "permanent" })).toBe(0);
    expect(metricValue(text, `${M.insertDuration.name}_count`)).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, `${M.batchRows.name}_sum`)).toBe(N - 1);
    expect(metricValue(text, `${M.batchBytes.name}_sum`)).toBe(events.filter((_, i) => i !== poisonIndex).reduce((s, e) => s + e.data.byteLength, 0));
    const lastInsert = metricValue(text, M.lastInsert.name) ?? 0;
    expect(Date.now() / 1_000 - lastInsert).toBeGreaterThanOrEqual(0);
    expect(Date.now() / 1_000 - lastInsert).toBeLessThan(60);
    // Read from the consumer's info at scrape time, after the drain.
    expect(metricValue(text, M.consumerPending.name)).toBe(0);
    expect(metricValue(text, M.consumerAckPending.name)).toBe(0);
    // The logger passed in receives the loop's entries (tests collect them; production logs via pino).
    expect(log.lines.filter((l) => l.msg === "event dead-lettered")).toEqual([expect.objectContaining({ level: "warn", fields: expect.objectContaining({ reason: "tenant-mismatch" }) })]);
  }, 30_000);

  it("two replicas on one durable consumer, one SIGKILLed mid-stream: 4,000 events stored once, nothing unacked", async () => {
    const tenants = ["rep-a", "rep-b", "rep-c"];
    const events = makeEvents(tenants, 4_000, 12);
    let published = 0;
    let killedAt = -1;
    let killedInserted = 0;
    let survivorText = "";
    await fixture.engine.as(INGESTOR, async (client) => {
      const front = await ClickHouseHttpFront.start(client);
      const env = ingestorEnv({ INGESTOR_CLICKHOUSE_URL: front.url, INGESTOR_CLICKHOUSE_PASSWORD: "", INGESTOR_BATCH_MAX_ROWS: "200", INGESTOR_SHUTDOWN_TIMEOUT_MS: "5000" });
      // Started together: both check the topology and share the one durable consumer.
      const replicas = [IngestorProcess.spawn(env), IngestorProcess.spawn(env)] as const;
      try {
        await Promise.all(replicas.map((r) => r.waitFor("ingestor ready")));
        const [victim, survivor] = replicas;
        const ports = replicas.map(loggedHttpPort);
        const inserted = async (i: number) => metricValue((await scrapeMetrics(ports[i] ?? 0)).text, M.inserted.name) ?? 0;
        const publisher = (async () => {
          for (let i = 0; i < events.length; i += 50) {
            await publishAll(fixture.js, events.slice(i, i + 50), 50);
            published = i + 50;
            await new Promise((r) => setTimeout(r, 60)); // ~5 s of flow
          }
        })();
        await until(async () => (await inserted(0)) > 0 && (await inserted(1)) > 0, "both replicas inserting", 15_000);
        killedInserted = await inserted(0);
        killedAt = published;
        expect((await victim.kill("SIGKILL")).signal).toBe("SIGKILL");
        await publisher;
        await until(drained, "everything acked by the survivor", 30_000);
        survivorText = (await scrapeMetrics(ports[1] ?? 0)).text;
        // The survivor's logs are pino JSON lines on stdout.
        const ready = survivor.output.split("\n").find((l) => l.includes('"msg":"ingestor ready"'));
        expect(JSON.parse(ready ?? "{}")).toMatchObject({ level: "info", pid: survivor.child.pid, consumer: CONSUMER, sink: "http" });
        expect(await survivor.kill("SIGTERM")).toEqual({ code: 0, signal: null });
        // Over HTTP, the replicas read their tenants' plans and usage too (the front's SELECTs).
        expect(front.selects).toBeGreaterThan(0);
      } finally {
        for (const r of replicas) await r.kill("SIGKILL");
        await front.close();
      }
    });
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(events.length);
    expect(killedInserted).toBeGreaterThan(0);
    expect(metricValue(survivorText, M.inserted.name)).toBeGreaterThan(0);
    const info = await fixture.jsm.consumers.info(STREAM_NAMES.events, CONSUMER);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_pending).toBe(0);
    const result = await fixture.engine.as(ADMIN, (c) => audit(c, FINAL, tenants, events.map((e) => e.eventId)));
    expect(result).toEqual({ rows: 4_000, distinct: 4_000, missing: 0, unexpected: 0 });
  }, 60_000);
});
