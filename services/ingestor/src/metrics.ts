/**
 * The ingestor's Prometheus metrics, on a Registry of their own (not prom-client's global one).
 * {@link INGESTOR_METRICS} (from the service's contract, `../contract.ts`) is the one home of
 * their names: constructs/ingestor.ts and the dashboard use exactly these.
 *
 * The consumer's pending and ack-pending gauges are read from JetStream's consumer info at
 * scrape time (at most once per {@link CONSUMER_INFO_TTL_MS}); a failed read keeps the last values.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../../config/tiers.js";
import { POLICY_REJECT_REASONS, type PolicyRejectReason, type RejectReason } from "./event.js";
import type { SinkFailureKind } from "./sink.js";
import { INGESTOR_METRICS } from "../contract.js";

/** Names, types and help texts of every series the ingestor exports (their home: the contract). */
export { INGESTOR_METRICS };

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
  readonly refused: Counter<"reason" | "tier">;
  readonly tenantsOverQuota: Gauge;
  readonly tenantLookups: Counter<"outcome">;
  /** Counts a dead letter (typed reason). */
  deadLetter(reason: RejectReason): void;
  /** Counts `count` valid events a tenant's plan refused (typed reason and tier). */
  refuse(reason: PolicyRejectReason, tier: PlanTierName, count?: number): void;
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
  // Likewise every refusal reason of every tier, and both lookup outcomes.
  const refused = new Counter({ name: m.refused.name, help: m.refused.help, labelNames: ["reason", "tier"] as const, registers });
  for (const reason of POLICY_REJECT_REASONS) for (const tier of PLAN_TIER_NAMES) refused.inc({ reason, tier }, 0);
  const tenantLookups = new Counter({ name: m.tenantLookups.name, help: m.tenantLookups.help, labelNames: ["outcome"] as const, registers });
  for (const outcome of ["ok", "error"]) tenantLookups.inc({ outcome }, 0);

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
    refused,
    tenantsOverQuota: new Gauge({ name: m.tenantsOverQuota.name, help: m.tenantsOverQuota.help, registers }),
    tenantLookups,
    deadLetter: (reason) => deadLettered.inc({ reason }),
    refuse: (reason, tier, count = 1) => refused.inc({ reason, tier }, count),
    insertError: (kind) => insertErrors.inc({ kind }),
  };
}
