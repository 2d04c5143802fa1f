/**
 * The ingestor's Prometheus metrics, on a Registry of their own (not prom-client's global one).
 * {@link INGESTOR_METRICS} is the one home of their names: constructs/ingestor.ts (scrape
 * annotations) and the dashboard use exactly these.
 *
 * The consumer's pending and ack-pending gauges are read from JetStream's consumer info at
 * scrape time (at most once per {@link CONSUMER_INFO_TTL_MS}); a failed read keeps the last values.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RejectReason } from "./event.js";
import type { SinkFailureKind } from "./sink.js";

/** Names, types and help texts of every series the ingestor exports. */
export const INGESTOR_METRICS = {
  consumed: { name: "ingestor_messages_consumed_total", type: "counter", help: "Messages fetched from the consumer." },
  inserted: { name: "ingestor_rows_inserted_total", type: "counter", help: "Rows inserted into ClickHouse (then acked)." },
  deadLettered: { name: "ingestor_messages_dead_lettered_total", type: "counter", help: "Messages moved to the DLQ stream, by reason." },
  redelivered: { name: "ingestor_messages_redelivered_total", type: "counter", help: "Messages received with a delivery count above 1." },
  batchRows: { name: "ingestor_batch_rows", type: "histogram", help: "Rows per insert block." },
  batchBytes: { name: "ingestor_batch_bytes", type: "histogram", help: "Payload bytes per insert block." },
  insertDuration: { name: "ingestor_insert_duration_seconds", type: "histogram", help: "Duration of one insert attempt, failed ones included (its _count counts attempts)." },
  insertErrors: { name: "ingestor_insert_errors_total", type: "counter", help: "Failed inserts, by kind (transient, permanent)." },
  consumerPending: { name: "ingestor_consumer_pending_messages", type: "gauge", help: "Messages on the stream not yet delivered to the consumer (its lag)." },
  consumerAckPending: { name: "ingestor_consumer_ack_pending_messages", type: "gauge", help: "Messages delivered and not yet acked." },
  lastInsert: { name: "ingestor_last_insert_success_timestamp_seconds", type: "gauge", help: "Unix time of the last successful insert." },
} as const satisfies Record<string, { readonly name: `ingestor_${string}`; readonly type: "counter" | "gauge" | "histogram"; readonly help: string }>;

/** Buckets of {@link INGESTOR_METRICS.batchRows}: up to the largest `INGESTOR_BATCH_MAX_ROWS` (100,000). */
export const BATCH_ROWS_BUCKETS = [1, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000];
/** Buckets of {@link INGESTOR_METRICS.batchBytes}: 1 KiB to 256 MiB (the largest `INGESTOR_BATCH_MAX_BYTES`), ×4 each. */
export const BATCH_BYTES_BUCKETS = Array.from({ length: 10 }, (_, i) => 1_024 * 4 ** i);
/** Buckets of {@link INGESTOR_METRICS.insertDuration}, in seconds. */
export const INSERT_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Consumer info is fetched at most this often, however often Prometheus scrapes. */
export const CONSUMER_INFO_TTL_MS = 1_000;

/** What the pending gauges read: JetStream's consumer info (`num_pending`, `num_ack_pending`). */
export type ConsumerInfoSource = () => Promise<{ readonly num_pending: number; readonly num_ack_pending: number }>;

export interface IngestorMetrics {
  readonly registry: Registry;
  readonly consumed: Counter;
  readonly inserted: Counter;
  readonly deadLettered: Counter<"reason">;
  readonly redelivered: Counter;
  readonly batchRows: Histogram;
  readonly batchBytes: Histogram;
  readonly insertDuration: Histogram;
  readonly insertErrors: Counter<"kind">;
  readonly consumerPending: Gauge;
  readonly consumerAckPending: Gauge;
  readonly lastInsert: Gauge;
  /** Counts a dead letter (typed reason). */
  deadLetter(reason: RejectReason): void;
  /** Counts a failed insert attempt (typed kind). */
  insertError(kind: SinkFailureKind): void;
}

/** A fresh registry holding the ingestor's metrics; `consumerInfo` feeds the two pending gauges. */
export function createIngestorMetrics(consumerInfo?: ConsumerInfoSource): IngestorMetrics {
  const registry = new Registry();
  const registers = [registry];
  const m = INGESTOR_METRICS;

  let cached: { at: number; read: Promise<void> } | undefined;
  const refresh = (): Promise<void> => {
    if (consumerInfo === undefined) return Promise.resolve();
    const now = Date.now();
    if (cached === undefined || now - cached.at >= CONSUMER_INFO_TTL_MS) {
      cached = {
        at: now,
        read: consumerInfo().then(
          (info) => {
            consumerPending.set(info.num_pending);
            consumerAckPending.set(info.num_ack_pending);
          },
          () => {}, // NATS unreachable: the gauges keep their last values; the fetch loop logs the outage
        ),
      };
    }
    return cached.read;
  };

  const consumerPending: Gauge = new Gauge({ name: m.consumerPending.name, help: m.consumerPending.help, registers, collect: refresh });
  const consumerAckPending: Gauge = new Gauge({ name: m.consumerAckPending.name, help: m.consumerAckPending.help, registers, collect: refresh });
  const deadLettered = new Counter({ name: m.deadLettered.name, help: m.deadLettered.help, labelNames: ["reason"] as const, registers });
  const insertErrors = new Counter({ name: m.insertErrors.name, help: m.insertErrors.help, labelNames: ["kind"] as const, registers });
  // Both kinds are exported from the start (at 0), so an alert on their rate has a series to read.
  for (const kind of ["transient", "permanent"] as const satisfies readonly SinkFailureKind[]) insertErrors.inc({ kind }, 0);

  return {
    registry,
    consumed: new Counter({ name: m.consumed.name, help: m.consumed.help, registers }),
    inserted: new Counter({ name: m.inserted.name, help: m.inserted.help, registers }),
    deadLettered,
    redelivered: new Counter({ name: m.redelivered.name, help: m.redelivered.help, registers }),
    batchRows: new Histogram({ name: m.batchRows.name, help: m.batchRows.help, buckets: BATCH_ROWS_BUCKETS, registers }),
    batchBytes: new Histogram({ name: m.batchBytes.name, help: m.batchBytes.help, buckets: BATCH_BYTES_BUCKETS, registers }),
    insertDuration: new Histogram({ name: m.insertDuration.name, help: m.insertDuration.help, buckets: INSERT_DURATION_BUCKETS, registers }),
    insertErrors,
    consumerPending,
    consumerAckPending,
    lastInsert: new Gauge({ name: m.lastInsert.name, help: m.lastInsert.help, registers }),
    deadLetter: (reason) => deadLettered.inc({ reason }),
    insertError: (kind) => insertErrors.inc({ kind }),
  };
}
