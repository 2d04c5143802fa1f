/**
 * The tenants' worker pools: their names (a namespace per pooled tier and per silo tenant, the
 * worker Deployment, the job consumer) and their autoscaling on the job lanes' lag. The
 * namespaces themselves, with their quotas and policies, come from `Tenancy` (platform stack).
 */
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { assertTenantId } from "../config/tenancy.js";
import type { PlanTierName, TierCatalog } from "../config/tiers.js";
import { workerConsumerConfig } from "../services/nats-auth/consumers.js";
import { STREAM_NAMES, workerConsumerName } from "../services/nats-auth/jetstream-names.js";
import { jetStreamLagTrigger } from "./keda.js";
import { addNackConsumer } from "./nats/index.js";

/** Namespace of a plan tier's pooled worker pool. */
export function workerNamespace(tier: PlanTierName): string {
  return `workers-${tier}`;
}

/** Namespace of a siloed enterprise tenant's own worker pool. */
export function siloNamespace(tenantId: string): string {
  return `tenant-${assertTenantId(tenantId, "siloTenants[]")}`;
}

/** Name of the worker Deployment in every worker namespace (deployed by the agent runtime). */
export const WORKER_DEPLOYMENT = "workers";

/** The durable JetStream consumer a tier's worker pool reads its job lane from (declared in services/nats-auth). */
export const workerConsumer = workerConsumerName;

/** A worker pool: a pooled tier's (`pool` = the tier) or a silo tenant's (`pool` = its tenant id). */
export interface WorkerPool {
  readonly pool: string;
  readonly namespace: string;
  readonly tier: PlanTierName;
}

export interface WorkerPoolScalingProps {
  readonly tiers: TierCatalog;
  /** The pools of `Tenancy.workerPools`. */
  readonly pools: readonly WorkerPool[];
  /** NATS monitoring `host:port`, where KEDA reads consumer lag. */
  readonly natsMonitoringEndpoint: string;
  /** Public key of the NATS account that owns `SWARM_JOBS` (KEDA's `account`). */
  readonly natsAccount: string;
  /** Name of the NACK `Account` resource the consumers are created through. */
  readonly nackAccount: string;
  /** Ack wait of a job before it is redelivered. @default "5m" */
  readonly ackWait?: string;
  /** Deliveries before a job is given up. @default 5 */
  readonly maxDeliver?: number;
  /** Seconds between KEDA's lag checks. @default 15 */
  readonly pollingIntervalSeconds?: number;
  /** Seconds without lag before a pool scales to its minimum. @default 300 */
  readonly cooldownPeriodSeconds?: number;
  /** @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * Per pooled tier: a durable consumer on the tier's job lane of `SWARM_JOBS` (a NACK `Consumer`)
 * and a KEDA ScaledObject that scales the tier's worker Deployment on that consumer's lag, with
 * the tier's replica caps and lag threshold from the catalog. Custom resources: workloads stack.
 * Silo tenants' pools live in their own NATS accounts and are not scaled from the pooled stream.
 */
export class WorkerPoolScaling extends Construct {
  constructor(scope: Construct, id: string, props: WorkerPoolScalingProps) {
    super(scope, id);
    for (const p of props.pools.filter((pool) => pool.pool === pool.tier)) {
      const tier = p.tier;
      const scaling = props.tiers[tier].workers.scaling;
      const consumer = addNackConsumer(this, `${tier}-consumer`, workerConsumerConfig(tier, props.tiers, { ackWait: props.ackWait, maxDeliver: props.maxDeliver }), {
        account: props.nackAccount,
        preventDelete: true,
        ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
      });
      new Manifest(this, `${tier}-scaledobject`, {
        manifest: {
          apiVersion: "keda.sh/v1alpha1",
          kind: "ScaledObject",
          metadata: { name: WORKER_DEPLOYMENT, namespace: p.namespace, labels: { "enchanted.io/plan-tier": tier } },
          spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: WORKER_DEPLOYMENT },
            minReplicaCount: scaling.minReplicaCount,
            maxReplicaCount: scaling.maxReplicaCount,
            pollingInterval: props.pollingIntervalSeconds ?? 15,
            cooldownPeriod: props.cooldownPeriodSeconds ?? 300,
            triggers: [
              jetStreamLagTrigger({
                monitoringEndpoint: props.natsMonitoringEndpoint,
                account: props.natsAccount,
                stream: STREAM_NAMES.jobs,
                consumer: workerConsumer(tier),
                lagThreshold: scaling.lagThreshold,
              }),
            ],
          },
        },
        dependsOn: [consumer],
      });
    }
  }
}
