/**
 * The durable JetStream consumers of the event bus, declared once (as `streams.ts` declares the
 * streams): the ingestor's on `SWARM_EVENTS` and each pooled tier's worker pool's on `SWARM_JOBS`.
 * NACK's `Consumer` resources (constructs/nats/jetstream.ts `nackConsumerSpec`) and
 * `createTopology` (topology.ts: local runs, tests, benchmarks) build from these objects, the
 * ingestor checks its own against them at start, and nothing else writes a consumer's configuration.
 */
import type { ConsumerConfig } from "@nats-io/jetstream";
import { PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { DEFAULT_PREFETCH_MESSAGES, INGESTOR_CONSUMER_NAME_PATTERN, INGESTOR_CONSUMER_NAME_RULE, INGESTOR_DEFAULTS, INGESTOR_JETSTREAM } from "../ingestor/contract.js";
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

const NANOS_PER_MS = 1_000_000;

/** What the ingestor's consumer may differ in. */
export interface IngestorConsumerOptions {
  /** Its durable name (the ingestor's `INGESTOR_CONSUMER`). @default "swarm-ingestor" (INGESTOR_DEFAULTS.consumer) */
  readonly name?: string;
  /** How many ingestor replicas may share the consumer at once; each keeps its prefetch unacked. */
  readonly maxReplicas: number;
  /** Messages one replica pulls ahead of its acks. @default 30000 (the default batch's, DEFAULT_PREFETCH_MESSAGES) */
  readonly prefetchMessages?: number;
  /** AckWait in milliseconds, whole seconds (NACK takes seconds). @default 30000 (INGESTOR_JETSTREAM.ackWaitMs) */
  readonly ackWaitMs?: number;
}

/**
 * The ingestor's durable pull consumer on `SWARM_EVENTS`, shared by every replica: every tenant's
 * events, from the stream's first message, explicit acks (a message is acked only after its row
 * is stored), unlimited deliveries (a sink outage never drops an event), and MaxAckPending
 * `maxReplicas` × prefetch, so every replica up to the cap keeps its full prefetch in flight.
 */
export function ingestorConsumerConfig(options: IngestorConsumerOptions): SwarmConsumerConfig {
  const name = options.name ?? INGESTOR_DEFAULTS.consumer;
  if (!INGESTOR_CONSUMER_NAME_PATTERN.test(name)) {
    throw new RangeError(`name = ${JSON.stringify(name)} is not a durable consumer name the ingestor accepts. Fix: ${INGESTOR_CONSUMER_NAME_RULE}.`);
  }
  const prefetch = options.prefetchMessages ?? DEFAULT_PREFETCH_MESSAGES;
  for (const [field, value] of [["maxReplicas", options.maxReplicas], ["prefetchMessages", prefetch]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`${field} = ${value} is not a positive whole number. Fix: use at least 1.`);
  }
  const ackWaitMs = options.ackWaitMs ?? INGESTOR_JETSTREAM.ackWaitMs;
  if (!Number.isInteger(ackWaitMs / 1_000) || ackWaitMs < 1_000) {
    throw new RangeError(`ackWaitMs = ${ackWaitMs} is not a whole number of seconds. Fix: use a multiple of 1000 of at least 1000.`);
  }
  return {
    stream: INGESTOR_JETSTREAM.reads,
    durable_name: name,
    filter_subject: INGESTOR_JETSTREAM.filterSubject,
    ack_policy: "explicit",
    deliver_policy: "all",
    ack_wait: ackWaitMs * NANOS_PER_MS,
    max_deliver: INGESTOR_JETSTREAM.maxDeliver,
    max_ack_pending: options.maxReplicas * prefetch,
  };
}

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
    ack_policy: "explicit",
    deliver_policy: "all",
    ack_wait: parseGoDuration(options.ackWait ?? WORKER_CONSUMER_DEFAULTS.ackWait, "ackWait"),
    max_deliver: maxDeliver,
    max_ack_pending: tiers[tier].bus.maxAckPending,
  };
}

/** {@link workerConsumerConfig} of every pooled tier. */
export function workerConsumerConfigs(tiers: TierCatalog, options: WorkerConsumerOptions = {}): Record<PlanTierName, SwarmConsumerConfig> {
  return Object.fromEntries(PLAN_TIER_NAMES.map((tier) => [tier, workerConsumerConfig(tier, tiers, options)])) as Record<PlanTierName, SwarmConsumerConfig>;
}

/**
 * The ingestor's consumer on a silo account's `SWARM_EVENTS` (the same declaration as the pooled
 * one: the ingestor checks it unchanged), sized for the silo's tier: the account's JWT caps every
 * consumer's MaxAckPending at the tier's `bus.maxAckPending`, so the replicas that may share it are
 * at most `maxAckPending / prefetch` (enterprise: 50,000 / 30,000 = 1 at the default batch).
 */
export function siloIngestorConsumerConfig(tier: SiloIngestorTier, options: Partial<IngestorConsumerOptions> = {}): SwarmConsumerConfig {
  return ingestorConsumerConfig({ ...options, maxReplicas: siloIngestorReplicas(tier, options), prefetchMessages: options.prefetchMessages ?? DEFAULT_PREFETCH_MESSAGES });
}

/** The tier a silo account is sized by, as {@link siloIngestorConsumerConfig} reads it. */
export type SiloIngestorTier = { readonly name: PlanTierName; readonly bus: { readonly maxAckPending: number } };

/** The replicas of a silo's ingestor {@link siloIngestorConsumerConfig} declares its consumer for: `options.maxReplicas`, checked, or as many as fit. */
export function siloIngestorReplicas(tier: SiloIngestorTier, options: Partial<IngestorConsumerOptions> = {}): number {
  const prefetch = options.prefetchMessages ?? DEFAULT_PREFETCH_MESSAGES;
  const fits = Math.floor(tier.bus.maxAckPending / prefetch);
  const maxReplicas = options.maxReplicas ?? fits;
  if (maxReplicas < 1 || maxReplicas > fits) {
    throw new RangeError(
      `maxReplicas = ${maxReplicas} × prefetchMessages = ${prefetch} does not fit the ${tier.name} tier's bus.maxAckPending of ${tier.bus.maxAckPending}, which caps a silo account's consumers. Fix: use at most ${Math.max(fits, 0)} replicas or a smaller prefetch (INGESTOR_BATCH_MAX_ROWS).`,
    );
  }
  return maxReplicas;
}
