/**
 * The durable JetStream consumers of the event bus, declared once (as `streams.ts` declares the
 * streams): NACK's `Consumer` resources (constructs/nats/jetstream.ts `nackConsumerSpec`) and
 * `createTopology` (topology.ts: local runs, tests, benchmarks) build from these objects, and
 * nothing else writes a consumer's configuration.
 */
import { AckPolicy, DeliverPolicy, type ConsumerConfig } from "@nats-io/jetstream";
import { PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { jobLane, STREAM_NAMES, workerConsumerName } from "./jetstream-names.js";
import { parseGoDuration } from "./streams.js";

/**
 * The fields of a consumer's configuration this platform sets, every one explicit (a subset of
 * nats.js' `ConsumerConfig`, accepted by `jsm.consumers.add()`), and the stream it reads.
 */
export type SwarmConsumerConfig = Required<Pick<ConsumerConfig, "durable_name" | "filter_subject" | "ack_policy" | "deliver_policy" | "ack_wait" | "max_deliver" | "max_ack_pending">> & {
  /** The stream the consumer reads. */
  readonly stream: string;
};

/** What a worker pool's consumer may differ in. */
export interface WorkerConsumerOptions {
  /** How long a delivered job may go unacked before it is redelivered, as Go writes it. @default "5m" */
  readonly ackWait?: string;
  /** Deliveries of a job before it is given up. @default 5 */
  readonly maxDeliver?: number;
}

/** The defaults of {@link WorkerConsumerOptions}. */
export const WORKER_CONSUMER_DEFAULTS = { ackWait: "5m", maxDeliver: 5 } as const;

/**
 * The durable consumer of a pooled tier's worker pool (`workers-<tier>`) on `SWARM_JOBS`: its
 * tier's job lane only (a work queue takes no overlapping consumers), explicit acks, and at most
 * the tier's `bus.maxAckPending` jobs in flight.
 */
export function workerConsumerConfig(tier: PlanTierName, tiers: TierCatalog, options: WorkerConsumerOptions = {}): SwarmConsumerConfig {
  const maxDeliver = options.maxDeliver ?? WORKER_CONSUMER_DEFAULTS.maxDeliver;
  if (!Number.isInteger(maxDeliver) || maxDeliver === 0 || maxDeliver < -1) {
    throw new RangeError(`maxDeliver = ${maxDeliver} is not -1 or a positive number of deliveries. Fix: use -1 (unlimited) or a whole number of at least 1.`);
  }
  return {
    stream: STREAM_NAMES.jobs,
    durable_name: workerConsumerName(tier),
    filter_subject: jobLane(tier),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: parseGoDuration(options.ackWait ?? WORKER_CONSUMER_DEFAULTS.ackWait, "ackWait"),
    max_deliver: maxDeliver,
    max_ack_pending: tiers[tier].bus.maxAckPending,
  };
}

/** {@link workerConsumerConfig} of every pooled tier. */
export function workerConsumerConfigs(tiers: TierCatalog, options: WorkerConsumerOptions = {}): Record<PlanTierName, SwarmConsumerConfig> {
  return Object.fromEntries(PLAN_TIER_NAMES.map((tier) => [tier, workerConsumerConfig(tier, tiers, options)])) as Record<PlanTierName, SwarmConsumerConfig>;
}
