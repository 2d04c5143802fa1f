/**
 * The ingestor holds nothing it cannot keep, and a redelivered batch is the same insert block
 * (issue 14 item 7), on a real nats-server (consumer AckWait 2 s) and the real ClickHouse engine.
 * Background merges are switched off on the table of this file's engine, so every copy a
 * redelivery wrote is counted (`count()` without FINAL), not folded away by a merge.
 *
 * - A sink stall three times longer than AckWait: every message the ingestor pulled stays in
 *   progress, so the server delivers each message exactly once and the table holds no raw
 *   duplicate.
 * - A SIGKILL aimed between an insert and its acks: the restarted ingestor, with events flowing
 *   in meanwhile, inserts the redelivered batch with the same deduplication token as the first
 *   time, and ClickHouse drops the copy (no raw duplicate).
 * Counts only; the stall's length is configured, nothing is timed.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { qualified, SWARM_EVENTS_TABLE } from "../../services/clickhouse-schema/index.js";
import { loadIngestorConfig } from "../../services/ingestor/src/config.js";
import { startIngestor } from "../../services/ingestor/src/main.js";
import { ClickHouseSink, type Sink } from "../../services/ingestor/src/sink.js";
import { STREAM_NAMES } from "../../services/nats-auth/streams.js";
import { ADMIN, INGESTOR, type EmbeddedClickHouse } from "../support/chdb.js";
import { audit, collectingLogger, INSERTED_MARKER, insertedTokens, IngestorProcess, makeEvents, publishAll, until, type PublishedEvent } from "../support/ingestor.js";
import { PIPELINE_ACK_WAIT_MS, PIPELINE_CONSUMER, startPipelineFixture, type PipelineFixture } from "../support/pipeline.js";

const TABLE = qualified(SWARM_EVENTS_TABLE);
let fixture: PipelineFixture;
let js: JetStreamClient;
let jsm: JetStreamManager;
let engine: EmbeddedClickHouse;

const ids = (events: readonly PublishedEvent[]) => events.map((e) => e.eventId);
const delivered = async () => (await jsm.consumers.info(STREAM_NAMES.events, PIPELINE_CONSUMER)).delivered.consumer_seq;
const drained = () => fixture.drained(PIPELINE_CONSUMER);

beforeAll(async () => {
  fixture = await startPipelineFixture();
  ({ js, jsm, engine } = fixture);
  await engine.as(ADMIN, (c) => c.command({ query: `ALTER TABLE ${TABLE} MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1, max_bytes_to_merge_at_min_space_in_pool = 1` }));
}, 30_000);
afterAll(async () => {
  await fixture?.stop();
});

describe("redelivery", () => {
  it("keeps everything it pulled in progress through a sink stall of 3 × AckWait: each message delivered once, no raw duplicate", async () => {
    const tenants = ["stall-a", "stall-b"];
    const events = makeEvents(tenants, 2_000, 31);
    await publishAll(js, events);
    const before = await delivered();
    const STALL_MS = 3 * PIPELINE_ACK_WAIT_MS;
    let stallUntil = 0;
    let stalledInserts = 0;
    await engine.as(INGESTOR, async (client) => {
      // Batches of 100: the replica holds up to 300 (100 × (2 in flight + 1)), far fewer than are waiting.
      const config = loadIngestorConfig(fixture.ingestorEnv({ INGESTOR_BATCH_MAX_ROWS: "100" }));
      const real = new ClickHouseSink(client);
      const sink: Sink = {
        async insert(rows, token) {
          if (stallUntil === 0) stallUntil = Date.now() + STALL_MS;
          const wait = stallUntil - Date.now();
          if (wait > 0) {
            stalledInserts++;
            await new Promise((r) => setTimeout(r, wait));
          }
          await real.insert(rows, token);
        },
        close: async () => {},
      };
      const running = await startIngestor(config, collectingLogger(), sink, { tenants: real });
      await until(drained, "all 2,000 acked after the stall", 60_000);
      const health = running.consumer.health();
      await running.stop();
      expect(health.backlogPeak).toBeLessThanOrEqual(300);
    });
    expect(stalledInserts).toBeGreaterThanOrEqual(2); // the stall held the inserts in flight
    expect((await delivered()) - before, "deliveries: a redelivery means a held message was not kept in progress").toBe(events.length);
    const raw = await engine.as(ADMIN, (c) => audit(c, TABLE, tenants, ids(events)));
    expect(raw).toEqual({ rows: 2_000, distinct: 2_000, missing: 0, unexpected: 0 });
  }, 90_000);

  it("inserts a batch redelivered after a SIGKILL between insert and ack with the same dedup token: no raw duplicate", async () => {
    const tenants = ["replay-a", "replay-b", "replay-c"];
    const backlog = makeEvents(tenants, 1_000, 41);
    const flow = makeEvents(tenants, 1_000, 42);
    await publishAll(js, backlog);
    // One batch in the sink at a time: the kill leaves exactly one inserted, unacked batch.
    const first = IngestorProcess.spawn(fixture.ingestorEnv({ INGESTOR_BATCH_MAX_ROWS: "200", INGESTOR_MAX_INFLIGHT_BATCHES: "1", INGESTOR_TEST_PAUSE_AFTER_INSERT_MS: "5000" }));
    try {
      await first.waitFor("ingestor ready", 30_000);
      await first.waitFor(INSERTED_MARKER, 30_000);
    } finally {
      await first.kill("SIGKILL");
    }
    const beforeRestart = insertedTokens(first.output);
    expect(beforeRestart).toHaveLength(1);
    const killedToken = beforeRestart[0]!;

    // Events keep flowing while the restarted ingestor takes the redelivered batch.
    const publisher = (async () => {
      for (let i = 0; i < flow.length; i += 50) {
        await publishAll(js, flow.slice(i, i + 50), 50);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const second = IngestorProcess.spawn(fixture.ingestorEnv({ INGESTOR_BATCH_MAX_ROWS: "200", INGESTOR_TEST_PRINT_INSERTS: "1" }));
    try {
      await second.waitFor("ingestor ready", 30_000);
      await publisher;
      await until(drained, "everything acked after the restart", 60_000);
    } finally {
      await second.kill("SIGTERM");
    }
    expect(insertedTokens(second.output)).toContain(killedToken);
    const raw = await engine.as(ADMIN, (c) => audit(c, TABLE, tenants, [...ids(backlog), ...ids(flow)]));
    expect(raw).toEqual({ rows: 2_000, distinct: 2_000, missing: 0, unexpected: 0 });
  }, 120_000);
});
