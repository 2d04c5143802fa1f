import { LimitRangeV1 } from "@cdktf/provider-kubernetes/lib/limit-range-v1/index.js";
import type { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1/index.js";
import { ResourceQuotaV1 } from "@cdktf/provider-kubernetes/lib/resource-quota-v1/index.js";
import { Construct } from "constructs";
import { PLAN_TIER_NAMES, type PlanTier, type TierCatalog } from "../config/tiers.js";
import { ValidationError } from "./core/validation.js";
import { addRestrictedNamespace } from "./k8s/namespace.js";
import { addDefaultDeny, addDnsEgress, addNetworkPolicy, type Labels, type NetworkPolicyProps } from "./k8s/network-policy.js";
import { KEDA_OPERATOR_SELECTOR } from "./keda.js";
import { CLICKHOUSE_CLIENT_PORTS, NAMESPACES, POLICY_LABELS, PORTS } from "./platform-interfaces.js";
import { siloNamespace, workerNamespace, type WorkerPool } from "./worker-pools.js";

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
  readonly workerPools: readonly WorkerPool[];
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
