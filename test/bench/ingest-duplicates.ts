/**
 * `npm run bench:ingest-duplicates`: raw duplicates the ingestor writes (rows without FINAL minus
 * distinct event ids) in the two situations of issue 14 item 7, on a real nats-server and the
 * real ClickHouse engine (chdb), with the pipeline tests' consumer (AckWait 2 s):
 * 1. aimed kills: EVENTS events (default 20,000) published at RATE per second (default 1,000)
 *    while the ingestor, a child process (batches of ROWS, default 1,000), is SIGKILLed KILLS times
 *    (default 10), each time right after its second insert returned and before that insert's acks
 *    (the test preload pauses there), then one clean drain;
 * 2. a sink stall longer than AckWait: EVENTS other events, the ingestor in-process, its first
 *    inserts held until STALL_MS (default 3 × AckWait = 6 s) after the first began, then everything drained.
 * Background merges are switched off on the table first (they would fold duplicates away before
 * the count). Prints one line per scenario; the last line is one JSON object:
 * {"events", "kill_raw_rows", "kill_distinct", "kill_extra_pct", "stall_raw_rows", "stall_distinct", "stall_extra_pct"}.
 */
import { qualified, SWARM_EVENTS_TABLE } from "../../services/clickhouse-schema/index.js";
import { loadIngestorConfig } from "../../services/ingestor/src/config.js";
import { startIngestor } from "../../services/ingestor/src/main.js";
import { ClickHouseSink, type Sink } from "../../services/ingestor/src/sink.js";
import { ADMIN, INGESTOR } from "../support/chdb.js";
import { audit, collectingLogger, INSERTED_MARKER, IngestorProcess, makeEvents, publishAll, until } from "../support/ingestor.js";
import { PIPELINE_ACK_WAIT_MS, PIPELINE_CONSUMER, startPipelineFixture } from "../support/pipeline.js";

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000);
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000);
const KILLS = Number(process.env.BENCH_KILLS ?? 10);
const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const STALL_MS = Number(process.env.BENCH_STALL_MS ?? 3 * PIPELINE_ACK_WAIT_MS);
const TABLE = qualified(SWARM_EVENTS_TABLE);

async function main(): Promise<void> {
  const fixture = await startPipelineFixture();
  const env = (extra: Record<string, string> = {}) => fixture.ingestorEnv({ INGESTOR_BATCH_MAX_ROWS: String(ROWS), ...extra });
  const drained = () => fixture.drained(PIPELINE_CONSUMER);
  try {
    // Raw duplicates are what this measures: no background merge may fold them away first.
    await fixture.engine.as(ADMIN, (c) => c.command({ query: `ALTER TABLE ${TABLE} MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1, max_bytes_to_merge_at_min_space_in_pool = 1` }));
    // 1. Aimed kills, with events flowing in at RATE per second while the ingestor is killed.
    const killTenants = ["kill-a", "kill-b", "kill-c"];
    const killEvents = makeEvents(killTenants, EVENTS, 71);
    let published = 0;
    const publisher = (async () => {
      const step = Math.max(1, Math.round(RATE / 20));
      for (let i = 0; i < killEvents.length; i += step) {
        await publishAll(fixture.js, killEvents.slice(i, i + step), step);
        published = Math.min(killEvents.length, i + step);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    for (let k = 0; k < KILLS; k++) {
      const child = IngestorProcess.spawn(env({ INGESTOR_TEST_PAUSE_AFTER_INSERT_MS: "300" }));
      await child.waitFor("ingestor ready", 30_000);
      // Not the first insert of a run (that one starts at the ack floor in any design): the second.
      await child.waitFor(`${INSERTED_MARKER}`, 30_000);
      const seen = child.output.split(INSERTED_MARKER).length - 1;
      if (seen < 2) await until(() => child.output.split(INSERTED_MARKER).length - 1 >= 2 || child.hasExited, "a second insert", 30_000);
      await child.kill("SIGKILL");
    }
    await publisher;
    console.log(`published ${published} events while killing`);
    const final = IngestorProcess.spawn(env());
    await final.waitFor("ingestor ready", 30_000);
    await until(drained, "the kill scenario drained", 120_000);
    await final.kill("SIGTERM");
    const killed = await fixture.engine.as(ADMIN, (c) => audit(c, TABLE, killTenants, killEvents.map((e) => e.eventId)));
    console.log(`aimed kills: ${KILLS} SIGKILLs between insert and ack, ${EVENTS} events: ${killed.rows} raw rows, ${killed.distinct} distinct, ${killed.missing} missing`);

    // 2. A sink stall longer than AckWait.
    const stallTenants = ["stall-a", "stall-b"];
    const stallEvents = makeEvents(stallTenants, EVENTS, 72);
    let stallUntil = 0;
    const stalled = await fixture.engine.as(INGESTOR, async (client) => {
      const config = loadIngestorConfig(env());
      const real = new ClickHouseSink(client);
      const sink: Sink = {
        async insert(rows, token) {
          // Every insert from the first one on waits until STALL_MS after the first began.
          if (stallUntil === 0) stallUntil = Date.now() + STALL_MS;
          const wait = stallUntil - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          await real.insert(rows, token);
        },
        close: async () => {},
      };
      const running = await startIngestor(config, collectingLogger(), sink, { tenants: real });
      await publishAll(fixture.js, stallEvents);
      await until(drained, "the stall scenario drained", 120_000);
      await running.stop();
    });
    void stalled;
    const stall = await fixture.engine.as(ADMIN, (c) => audit(c, TABLE, stallTenants, stallEvents.map((e) => e.eventId)));
    console.log(`sink stall of ${STALL_MS} ms (AckWait ${PIPELINE_ACK_WAIT_MS} ms), ${EVENTS} events: ${stall.rows} raw rows, ${stall.distinct} distinct, ${stall.missing} missing`);
    const pct = (a: { rows: number; distinct: number }) => Number((((a.rows - a.distinct) / a.distinct) * 100).toFixed(2));
    console.log(
      JSON.stringify({
        events: EVENTS,
        kill_raw_rows: killed.rows,
        kill_distinct: killed.distinct,
        kill_extra_pct: pct(killed),
        stall_raw_rows: stall.rows,
        stall_distinct: stall.distinct,
        stall_extra_pct: pct(stall),
      }),
    );
  } finally {
    await fixture.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
