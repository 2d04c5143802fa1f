/**
 * The event bus's JetStream topology on a server of our own (`npm run local`, the tests, the
 * benchmarks): the streams of `streams.ts` and the consumers of `consumers.ts`, created through
 * one function, {@link createTopology}. In a cluster NACK creates the same declarations (the Nats
 * construct's `Stream`s, the Ingestor's and the worker pools' `Consumer`s); nothing creates a
 * stream or a durable consumer from a configuration written anywhere else.
 */
import type { JetStreamManager } from "@nats-io/jetstream";
import type { EnvironmentConfig } from "../../config/environment.js";
import type { TierCatalog } from "../../config/tiers.js";
import { SILO_TIER } from "./claims.js";
import { ingestorConsumerConfig, siloIngestorConsumerConfig, workerConsumerConfig, workerConsumerConfigs, type IngestorConsumerOptions, type SwarmConsumerConfig, type WorkerConsumerOptions } from "./consumers.js";
import { deadLetterStreamConfig, jobDeadLetterStreamConfig, siloStreamConfigs, swarmStreamConfigs, type SwarmStreamConfig } from "./streams.js";

/** The streams of the topology: `SWARM_EVENTS`, `SWARM_JOBS`, the ingestor's `SWARM_EVENTS_DLQ` and the workers' `SWARM_JOBS_DLQ`. */
export const TOPOLOGY_STREAMS = ["events", "jobs", "deadLetters", "jobDeadLetters"] as const;
export type TopologyStreamKey = (typeof TOPOLOGY_STREAMS)[number];

/**
 * Replicas of the ingestor the local consumer leaves room for, when the options name none: its
 * MaxAckPending is 4 × the default prefetch (120,000), above one replica's prefetch at any batch
 * size the tests and the benchmark use.
 */
export const LOCAL_INGESTOR_REPLICAS = 4;

export interface TopologyOptions {
  /** The environment's `nats` section the streams are declared from (`loadEnvironment(env).nats`). */
  readonly nats: Pick<EnvironmentConfig["nats"], "streams">;
  /** The tier catalog the streams' per-tenant bound derives from. @default PLAN_TIERS */
  readonly tiers?: TierCatalog;
  /** Replicas of every stream (1 on a single server). @default - as the environment declares them */
  readonly replicas?: number;
  /** The streams to create. @default TOPOLOGY_STREAMS (all four) */
  readonly streams?: readonly TopologyStreamKey[];
  /** The largest `max_bytes` of a stream, where a local server has little storage. @default - as declared */
  readonly maxBytes?: Partial<Record<TopologyStreamKey, number>>;
  /**
   * The ingestor's durable consumer on `SWARM_EVENTS` (name, replicas, AckWait), or `false` for none.
   * @default { maxReplicas: LOCAL_INGESTOR_REPLICAS } (the default name and AckWait)
   */
  readonly ingestor?: Partial<IngestorConsumerOptions> | false;
  /** The pooled tiers' worker consumers on `SWARM_JOBS`, from the tier catalog. @default - none */
  readonly workers?: { readonly tiers: TierCatalog; readonly options?: WorkerConsumerOptions };
}

/** What {@link createTopology} creates, in order: the streams, then the consumers on them. Pure. */
export function topologyDeclarations(options: TopologyOptions): { readonly streams: readonly SwarmStreamConfig[]; readonly consumers: readonly SwarmConsumerConfig[] } {
  const configs = swarmStreamConfigs(options.nats, options.tiers ?? options.workers?.tiers);
  const declared: Record<TopologyStreamKey, SwarmStreamConfig> = {
    events: configs.events,
    jobs: configs.jobs,
    // Replicated like the events it holds, as the Nats construct declares it.
    deadLetters: deadLetterStreamConfig(configs.events.num_replicas),
    jobDeadLetters: jobDeadLetterStreamConfig(configs.jobs.num_replicas),
  };
  const streams = selectStreams(declared, options);
  const consumers: SwarmConsumerConfig[] = [];
  if (options.ingestor !== false) consumers.push(ingestorConsumerConfig({ maxReplicas: LOCAL_INGESTOR_REPLICAS, ...options.ingestor }));
  if (options.workers) consumers.push(...Object.values(workerConsumerConfigs(options.workers.tiers, options.workers.options)));
  return { streams, consumers };
}

/** The streams `options.streams` names, with its replicas and size caps applied. */
function selectStreams(declared: Record<TopologyStreamKey, SwarmStreamConfig>, options: Pick<TopologyOptions, "streams" | "replicas" | "maxBytes">): SwarmStreamConfig[] {
  return (options.streams ?? TOPOLOGY_STREAMS).map((key) => {
    const stream = declared[key];
    const cap = options.maxBytes?.[key];
    return {
      ...stream,
      ...(options.replicas === undefined ? {} : { num_replicas: options.replicas }),
      ...(cap === undefined ? {} : { max_bytes: Math.min(stream.max_bytes ?? cap, cap) }),
    };
  });
}

export interface SiloTopologyOptions extends Pick<TopologyOptions, "streams" | "replicas" | "maxBytes"> {
  /** The environment's `nats` section (replicas, ages and duplicate windows of the streams). */
  readonly nats: Pick<EnvironmentConfig["nats"], "streams">;
  /** The tier catalog: the silo tier's JetStream allowance sizes the streams, its MaxAckPending the consumers. */
  readonly tiers: TierCatalog;
  /** The ingestor's consumer, or `false` for none. @default { } (the default name and AckWait, as many replicas as the tier's MaxAckPending allows) */
  readonly ingestor?: Partial<IngestorConsumerOptions> | false;
  /** The silo's worker consumer (`workers-enterprise` on its `SWARM_JOBS` lane), or `false` for none. @default { } */
  readonly worker?: WorkerConsumerOptions | false;
}

/**
 * What a silo tenant's account holds (claims.ts `siloAccountClaims`): its own copies of the four
 * streams ({@link siloStreamConfigs}: same names and subjects, sized from the silo tier), the
 * ingestor's durable consumer on its `SWARM_EVENTS` and one worker consumer on its tier's lane of
 * `SWARM_JOBS`, in that order. Pure; {@link createSiloTopology} creates it on a server of our own,
 * and NACK (an `Account` of the silo with a silo platform user's creds) in a cluster.
 */
export function siloTopologyDeclarations(tenantId: string, options: SiloTopologyOptions): { readonly streams: readonly SwarmStreamConfig[]; readonly consumers: readonly SwarmConsumerConfig[] } {
  const tier = { name: SILO_TIER, bus: options.tiers[SILO_TIER].bus };
  const declared = siloStreamConfigs(tenantId, options.nats, tier, options.replicas === undefined ? {} : { replicas: options.replicas });
  const streams = selectStreams(declared, { ...options, replicas: undefined });
  const consumers: SwarmConsumerConfig[] = [];
  if (options.ingestor !== false) consumers.push(siloIngestorConsumerConfig(tier, options.ingestor));
  if (options.worker !== false) consumers.push(workerConsumerConfig(SILO_TIER, options.tiers, options.worker));
  return { streams, consumers };
}

/** Creates a silo tenant's streams and consumers ({@link siloTopologyDeclarations}) in the account `jsm` is connected to (the silo's). */
export async function createSiloTopology(jsm: JetStreamManager, tenantId: string, options: SiloTopologyOptions): Promise<void> {
  await createDeclared(jsm, siloTopologyDeclarations(tenantId, options));
}

async function createDeclared(jsm: JetStreamManager, declared: ReturnType<typeof topologyDeclarations>): Promise<void> {
  for (const stream of declared.streams) await jsm.streams.add(stream);
  for (const consumer of declared.consumers) await addConsumer(jsm, consumer);
}

/** Creates one declared durable consumer on its stream. */
export async function addConsumer(jsm: JetStreamManager, consumer: SwarmConsumerConfig): Promise<void> {
  const { stream, ...config } = consumer;
  await jsm.consumers.add(stream, config);
}

/**
 * Creates the declared streams and consumers ({@link topologyDeclarations}) on the server `jsm`
 * talks to, e.g. `createTopology(jsm, { nats: loadEnvironment("dev").nats, replicas: 1 })`.
 */
export async function createTopology(jsm: JetStreamManager, options: TopologyOptions): Promise<void> {
  await createDeclared(jsm, topologyDeclarations(options));
}
