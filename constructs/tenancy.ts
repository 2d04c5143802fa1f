import { LimitRangeV1 } from "@cdktf/provider-kubernetes/lib/limit-range-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import type { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1/index.js";
import { ResourceQuotaV1 } from "@cdktf/provider-kubernetes/lib/resource-quota-v1/index.js";
import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { assertTenantId } from "../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTier, type PlanTierName, type TierCatalog } from "../config/tiers.js";
import { workerConsumerConfig } from "../services/nats-auth/consumers.js";
import { STREAM_NAMES } from "../services/nats-auth/streams.js";
import { ValidationError } from "./core/validation.js";
import { addRestrictedNamespace } from "./k8s/namespace.js";
import { addDefaultDeny, addDnsEgress, addNetworkPolicy, type Labels, type NetworkPolicyProps } from "./k8s/network-policy.js";
import { jetStreamLagTrigger, KEDA_OPERATOR_SELECTOR } from "./keda.js";
import { nackConsumerSpec } from "./nats/index.js";
import { CLICKHOUSE_CLIENT_PORTS, NAMESPACES, POLICY_LABELS, PORTS } from "./platform-interfaces.js";


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

/** The durable JetStream consumer a tier's worker pool reads its job lane from. */
export function workerConsumer(tier: PlanTierName): string {
  return `workers-${tier}`;
}

export interface TenancyProps {
  /** The plan-tier catalog: one worker pool, quota and limit range per tier. */
  readonly tiers: TierCatalog;
  /** Enterprise tenants with a dedicated worker namespace (enterprise limits). @default [] */
  readonly siloTenants?: readonly string[];
  /** The VPC range: the EKS control plane calls admission webhooks from it. */
  readonly vpcCidr: string;
}

/**
 * Namespaces for the platform and the worker pools, with Pod Security `restricted` enforced,
 * default-deny NetworkPolicies and the explicit allows each component needs, and a ResourceQuota
 * and LimitRange per tier from the catalog. O(tiers): nothing here is per pooled tenant.
 * Core Kubernetes objects only, so it lives in the platform stack.
 */
export class Tenancy extends Construct {
  /** Worker pool namespace by pool name (a tier, or a silo tenant id). */
  readonly workerPools: readonly { readonly pool: string; readonly namespace: string; readonly tier: PlanTierName }[];
  readonly namespaces: readonly string[];
  private readonly namespaceResources = new Map<string, NamespaceV1>();

  constructor(scope: Construct, id: string, props: TenancyProps) {
    super(scope, id);
    const siloTenants = [...(props.siloTenants ?? [])];
    const pools = [
      ...PLAN_TIER_NAMES.map((tier) => ({ pool: tier, namespace: workerNamespace(tier), tier })),
      ...siloTenants.map((tenant) => ({ pool: tenant, namespace: siloNamespace(tenant), tier: "enterprise" as const })),
    ];
    this.workerPools = pools;
    const operatorNamespaces = [NAMESPACES.certManager, NAMESPACES.externalSecrets, NAMESPACES.keda];
    const all = [...Object.values(NAMESPACES), ...pools.map((p) => p.namespace)];
    this.namespaces = all;

    for (const ns of all) {
      const resource = addRestrictedNamespace(this, `ns-${ns}`, { name: ns, kind: pools.some((p) => p.namespace === ns) ? "workers" : "platform" });
      this.namespaceResources.set(ns, resource);
      addDefaultDeny(this, `${ns}-default-deny`, ns, [resource]);
      addDnsEgress(this, `${ns}-allow-dns`, ns, [resource]);
    }

    // Operators: the Kubernetes API and AWS APIs (443), and webhook calls from the control plane.
    for (const ns of operatorNamespaces) {
      this.policy(ns, "allow-operator", {}, {
        egress: [{ ports: [PORTS.https] }],
        ingress: [{ peers: [{ cidr: props.vpcCidr }], ports: PORTS.webhooks }],
      });
    }
    // KEDA reads JetStream consumer lag from the NATS monitoring endpoint.
    this.policy(NAMESPACES.keda, "allow-nats-monitoring", KEDA_OPERATOR_SELECTOR, {
      egress: [{ peers: [{ namespace: NAMESPACES.nats }], ports: [PORTS.natsMonitoring] }],
    });

    // Labelled clients anywhere may open connections to NATS and ClickHouse (who may come in is
    // the servers' own policy: Nats.allowFrom, ClickHouse.allowFrom).
    for (const ns of all) {
      this.policy(ns, "allow-nats-clients", { [POLICY_LABELS.natsClient]: "true" }, {
        egress: [{ peers: [{ namespace: NAMESPACES.nats }], ports: [PORTS.natsClient] }],
      });
    }
    this.policy(NAMESPACES.platform, "allow-clickhouse-clients", { [POLICY_LABELS.clickhouseClient]: "true" }, {
      egress: [{ peers: [{ namespace: NAMESPACES.clickhouse }], ports: CLICKHOUSE_CLIENT_PORTS }],
    });

    // Worker pools: jobs come from NATS only; the tier's quota and container defaults.
    for (const p of pools) {
      this.policy(p.namespace, "allow-workers-to-nats", {}, {
        egress: [{ peers: [{ namespace: NAMESPACES.nats }], ports: [PORTS.natsClient] }],
      });
      this.quota(p.namespace, props.tiers[p.tier]);
    }
  }

  /** The Namespace resource, for `dependsOn` of things created in it. */
  namespace(name: string): NamespaceV1 {
    const ns = this.namespaceResources.get(name);
    if (!ns) throw new ValidationError(this, "namespace", name, "is not managed here", `use one of ${[...this.namespaceResources.keys()].join(", ")}`);
    return ns;
  }

  private policy(namespace: string, name: string, podLabels: Labels, rules: Pick<NetworkPolicyProps, "ingress" | "egress">): void {
    addNetworkPolicy(this, `${namespace}-${name}`, { name, namespace, podLabels, ...rules, dependsOn: [this.namespace(namespace)] });
  }

  private quota(namespace: string, tier: PlanTier): void {
    const q = tier.workers.quota;
    const c = tier.workers.container;
    new ResourceQuotaV1(this, `${namespace}-quota`, {
      metadata: { name: "tier-quota", namespace },
      spec: {
        hard: {
          pods: String(q.pods),
          "requests.cpu": `${q.requestsCpuMillicores}m`,
          "requests.memory": `${q.requestsMemoryMiB}Mi`,
          "limits.cpu": `${q.limitsCpuMillicores}m`,
          "limits.memory": `${q.limitsMemoryMiB}Mi`,
        },
      },
      dependsOn: [this.namespace(namespace)],
    });
    new LimitRangeV1(this, `${namespace}-limits`, {
      metadata: { name: "tier-container-defaults", namespace },
      spec: {
        limit: [
          {
            type: "Container",
            defaultRequest: { cpu: `${c.defaultRequestCpuMillicores}m`, memory: `${c.defaultRequestMemoryMiB}Mi` },
            default: { cpu: `${c.defaultLimitCpuMillicores}m`, memory: `${c.defaultLimitMemoryMiB}Mi` },
            max: { cpu: `${q.limitsCpuMillicores}m`, memory: `${q.limitsMemoryMiB}Mi` },
          },
        ],
      },
      dependsOn: [this.namespace(namespace)],
    });
  }
}

export interface WorkerPoolScalingProps {
  readonly tiers: TierCatalog;
  /** The pools of {@link Tenancy.workerPools}. */
  readonly pools: Tenancy["workerPools"];
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
      const consumer = new Manifest(this, `${tier}-consumer`, {
        manifest: {
          apiVersion: "jetstream.nats.io/v1beta2",
          kind: "Consumer",
          metadata: { name: workerConsumer(tier), namespace: NAMESPACES.nats },
          spec: nackConsumerSpec(workerConsumerConfig(tier, props.tiers, { ackWait: props.ackWait, maxDeliver: props.maxDeliver }), { account: props.nackAccount, preventDelete: true }),
        },
        ...(props.dependsOn ? { dependsOn: [...props.dependsOn] } : {}),
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
