/**
 * The gateway's platform part (platform stack): the AWS front door (edge.ts), Redis for shared
 * rate-limit counters when asked, the `kong` namespace with its NetworkPolicies, the tenant-gate
 * plugin's Lua and the chart, which installs Kong's CRDs for the workloads part (routes.ts).
 */
import type { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate/index.js";
import type { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import { Fn, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import type { TierCatalog } from "../../config/tiers.js";
import { tenantGateSources } from "../../services/kong-plugins/tenant-gate.js";
import { propFail } from "../core/validation.js";
import { addRestrictedNamespace } from "../k8s/namespace.js";
import type { NetworkPeer } from "../k8s/network-policy.js";
import type { IKmsKey } from "../kms-key.js";
import { PinnedHelmRelease } from "../pinned-helm-release.js";
import { addElastiCacheRedis } from "../redis/elasticache-redis.js";
import { kongChartValues, largestTierBodyKiB } from "./chart-values.js";
import { addGatewayEdge } from "./edge.js";
import { KONG_CHART, KONG_NAMESPACE, KONG_RELEASE_NAME, kongSecretNames, TENANT_GATE_CONFIGMAP } from "./names.js";
import { addKongNetworkPolicies, KONG_GATEWAY_PEER, type KongBackend } from "./network-policies.js";

/** Where the counters of the tenant-gate plugin live. */
export type KongRateLimitCounters = "local" | "redis";

export interface KongRedisProps {
  /** Data subnets of the replication group's subnet group. */
  readonly dataSubnetIds: readonly string[];
  /** Private subnets of the nodes and pods: the only sources allowed on 6379. */
  readonly privateSubnetCidrs: readonly string[];
  /** Key of at-rest encryption (the auth token's secret is encrypted with `secretsKey`). */
  readonly key: IKmsKey;
  /** @default "cache.t4g.small" */
  readonly nodeType?: string;
  /** Nodes: one primary and replicas in other AZs. @default 2 */
  readonly nodes?: number;
  /** @default "7.1" */
  readonly engineVersion?: string;
}

export interface KongGatewayProps {
  /** Name prefix of every AWS resource, e.g. `enchanted-prod`. */
  readonly name: string;
  readonly tiers: TierCatalog;
  /** The public API host name (`config.domains.api`): the ACM certificate's domain. */
  readonly apiDomain: string;
  /** The public auth host name (`config.domains.auth`, Keycloak through the gateway): the certificate's other name. */
  readonly authDomain: string;
  readonly vpcId: string;
  readonly vpcCidr: string;
  /** Subnets of the internet-facing NLB. */
  readonly publicSubnetIds: readonly string[];
  /** Secrets Manager prefix of the gateway's secrets, e.g. `enchanted/prod/kong`. */
  readonly secretPrefix: string;
  /** Key of the gateway's Secrets Manager secrets. */
  readonly secretsKey: IKmsKey;
  /**
   * The services the gateway forwards to and fetches key sets from (namespace and pod port): its
   * egress opens to these only. Each backend's owner admits the gateway in its own namespace
   * (`allowFrom(gateway.peer)`).
   */
  readonly backends: readonly KongBackend[];
  /** Shared rate-limit counters in ElastiCache Redis, counted by every Kong pod together. @default - local counters in each Kong pod */
  readonly redis?: KongRedisProps;
  /**
   * Public Route 53 zone of both hosts: DNS validation records and a validation wait are created.
   * @default - no records; the validation records are a Terraform output for the zone's owner
   */
  readonly hostedZoneId?: string;
  /** @default 2 */
  readonly replicas?: number;
  /** The global body cap in KiB. @default - the largest tier's maxRequestBodyKiB */
  readonly maxRequestBodyKiB?: number;
  /** Chart version from the environment's config. @default KONG_CHART.version */
  readonly version?: string;
  /** Resources the release and the NetworkPolicies wait for (e.g. the AWS Load Balancer Controller). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** Connection facts the workloads part needs (cross-stack references). */
export interface IKongGateway {
  readonly counters: KongRateLimitCounters;
  /** Primary endpoint of the Redis replication group. @default - none with local counters */
  readonly redisHost?: string;
  readonly maxRequestBodyKiB: number;
  readonly secretPrefix: string;
  /** The gateway's pods, for the owners of its backends to admit (`allowFrom(peer)`). */
  readonly peer: NetworkPeer;
}

/**
 * The gateway's platform part: the NLB's security group (the only 0.0.0.0/0 ingress, tcp 443),
 * the ACM certificate, Redis when shared counters are asked for, the `kong` namespace with its
 * NetworkPolicies, the plugin's Lua and the chart (which installs Kong's CRDs for the workloads
 * part). It writes nothing into its backends' namespaces: their owners admit {@link peer}.
 */
export class KongGateway extends Construct implements IKongGateway {
  readonly helm: PinnedHelmRelease;
  readonly certificate: AcmCertificate;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly counters: KongRateLimitCounters;
  readonly redisHost?: string;
  readonly maxRequestBodyKiB: number;
  readonly secretPrefix: string;
  readonly peer: NetworkPeer = KONG_GATEWAY_PEER;

  constructor(scope: Construct, id: string, props: KongGatewayProps) {
    super(scope, id);
    const fail = propFail(this);
    const largest = largestTierBodyKiB(props.tiers);
    this.maxRequestBodyKiB = props.maxRequestBodyKiB ?? largest;
    if (this.maxRequestBodyKiB < largest) {
      fail("maxRequestBodyKiB", this.maxRequestBodyKiB, `is below the largest tier's maxRequestBodyKiB (${largest}), which could never be reached`, `raise it to ${largest} or more, or leave it unset`);
    }
    if (!/^[A-Za-z0-9/_+=.@-]{1,400}$/.test(props.secretPrefix)) {
      fail("secretPrefix", props.secretPrefix, "is not a Secrets Manager path", 'use a prefix such as "enchanted/prod/kong"');
    }
    for (const [i, backend] of props.backends.entries()) {
      if (!Number.isInteger(backend.port) || backend.port < 1 || backend.port > 65_535) {
        fail(`backends[${i}].port`, backend.port, "is not a TCP port", "use the backend Service's port (1 to 65535)");
      }
    }
    this.secretPrefix = props.secretPrefix;
    this.counters = props.redis ? "redis" : "local";

    // --- The public front door: the NLB's security group, the certificate -------------------------
    const edge = addGatewayEdge(this, props);
    this.loadBalancerSecurityGroup = edge.loadBalancerSecurityGroup;
    this.certificate = edge.certificate;
    const waitFor: ITerraformDependable[] = [...(props.dependsOn ?? []), ...(edge.certificateValidation ? [edge.certificateValidation] : [])];

    // --- Shared counters: ElastiCache Redis with TLS and an auth token -------------------------
    if (props.redis) {
      const redis = props.redis;
      // The names and descriptions the resources were created with (a security group's cannot change in place).
      this.redisHost = addElastiCacheRedis(this, "redis", {
        name: `${props.name}-kong-redis`,
        replicationGroupId: `${props.name}-kong`,
        description: "Kong per-tenant rate-limit counters",
        subnetGroupDescription: "Kong rate-limit Redis: data subnets",
        securityGroupDescription: "Kong rate-limit Redis: 6379 from the private (pod) subnets only",
        clientRuleDescription: "Redis from the pods' private subnets",
        vpcId: props.vpcId,
        subnetIds: redis.dataSubnetIds,
        clientCidrs: redis.privateSubnetCidrs,
        key: redis.key,
        authToken: {
          secretName: kongSecretNames(props.secretPrefix).redisAuthToken,
          description: `Auth token of ${props.name}'s Kong rate-limit Redis (generated by Secrets Manager)`,
          key: props.secretsKey,
        },
        nodeType: redis.nodeType,
        nodes: redis.nodes,
        engineVersion: redis.engineVersion,
      }).primaryEndpointAddress;
    }

    // --- Kubernetes: namespace, NetworkPolicies, the plugin's Lua, the chart --------------------
    const namespace = addRestrictedNamespace(this, "namespace", { name: KONG_NAMESPACE, kind: "platform" });
    addKongNetworkPolicies(this, { vpcCidr: props.vpcCidr, backends: props.backends, dependsOn: [namespace, ...(props.dependsOn ?? [])] });
    const lua = new ConfigMapV1(this, "tenant-gate-lua", {
      metadata: { name: TENANT_GATE_CONFIGMAP, namespace: KONG_NAMESPACE },
      data: tenantGateSources(),
      dependsOn: [namespace],
    });

    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: KONG_CHART,
      ...(props.version ? { version: props.version } : {}),
      releaseName: KONG_RELEASE_NAME,
      namespace: KONG_NAMESPACE,
      dependsOn: [namespace, lua, ...waitFor],
      values: kongChartValues(
        {
          ...(props.replicas !== undefined ? { replicas: props.replicas } : {}),
          certificateArn: this.certificate.arn,
          securityGroupId: this.loadBalancerSecurityGroup.id,
          publicSubnetIds: Fn.join(",", [...props.publicSubnetIds]),
          maxRequestBodyKiB: this.maxRequestBodyKiB,
        },
        this,
      ),
    });
  }
}
