/**
 * The gateway's platform part (platform stack): the AWS front door (edge.ts), Redis for shared
 * rate-limit counters when asked, the `kong` namespace with its NetworkPolicies, the tenant-gate
 * plugin's Lua and the chart, which installs Kong's CRDs for the workloads part (routes.ts).
 */
import type { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate/index.js";
import { DataAwsSecretsmanagerRandomPassword } from "@cdktf/provider-aws/lib/data-aws-secretsmanager-random-password/index.js";
import { ElasticacheReplicationGroup } from "@cdktf/provider-aws/lib/elasticache-replication-group/index.js";
import { ElasticacheSubnetGroup } from "@cdktf/provider-aws/lib/elasticache-subnet-group/index.js";
import { SecretsmanagerSecretVersion } from "@cdktf/provider-aws/lib/secretsmanager-secret-version/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1/index.js";
import { NetworkPolicyV1, type NetworkPolicyV1Spec } from "@cdktf/provider-kubernetes/lib/network-policy-v1/index.js";
import { Fn, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import type { TierCatalog } from "../../config/tiers.js";
import { tenantGateSources } from "../../services/kong-plugins/tenant-gate.js";
import { ManagedSecret } from "../external-secrets.js";
import { namespacePeer } from "../k8s/network-policy.js";
import type { IKmsKey } from "../kms-key.js";
import { PinnedHelmRelease } from "../pinned-helm-release.js";
import { NAMESPACES, PORTS } from "../platform-interfaces.js";
import { kongChartValues, largestTierBodyKiB } from "./chart-values.js";
import { addGatewayEdge } from "./edge.js";
import { KONG_CHART, KONG_NAMESPACE, KONG_PORTS, KONG_RELEASE_NAME, kongSecretNames, TENANT_GATE_CONFIGMAP } from "./names.js";

/** The only backend published: the provisioning service's API. */
export const PROVISIONING_API = { namespace: NAMESPACES.platform, service: "provisioning", port: 8080, pathPrefix: "/v1/" } as const;

/** Port of ElastiCache Redis. */
export const REDIS_PORT = 6379;

const DEFAULT_REPLICAS = 2;
const DEFAULT_REDIS_NODE_TYPE = "cache.t4g.small";
const DEFAULT_REDIS_ENGINE_VERSION = "7.1";
const REDIS_AUTH_TOKEN_LENGTH = 64;

/** Where the counters of the tenant-gate plugin live. */
export type KongRateLimitCounters = "local" | "redis";

export interface KongRedisProps {
  /** Data subnets of the replication group's subnet group. */
  readonly dataSubnetIds: readonly string[];
  /** Private subnets of the nodes and pods: the only sources allowed on 6379. */
  readonly privateSubnetCidrs: readonly string[];
  /** Key of at-rest encryption and of the auth token's secret. */
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
  readonly vpcId: string;
  readonly vpcCidr: string;
  /** Subnets of the internet-facing NLB. */
  readonly publicSubnetIds: readonly string[];
  /** Secrets Manager prefix of the gateway's secrets, e.g. `enchanted/prod/kong`. */
  readonly secretPrefix: string;
  /** Key of the gateway's Secrets Manager secrets. */
  readonly secretsKey: IKmsKey;
  /** Shared rate-limit counters in ElastiCache Redis (staging, prod). @default - local counters per Kong pod (dev) */
  readonly redis?: KongRedisProps;
  /**
   * Public Route 53 zone of `apiDomain`: DNS validation records and a validation wait are created.
   * @default - no records; the validation record is a Terraform output for the zone's owner
   */
  readonly hostedZoneId?: string;
  /** @default 2 */
  readonly replicas?: number;
  /** The global body cap in KiB. @default - the largest tier's maxRequestBodyKiB */
  readonly maxRequestBodyKiB?: number;
  /** Chart version from the environment's config. @default KONG_CHART.version */
  readonly version?: string;
  /** Resources the release and the NetworkPolicies wait for (the `platform` namespace, the AWS Load Balancer Controller). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/** Connection facts the workloads part needs (cross-stack references). */
export interface IKongGateway {
  readonly counters: KongRateLimitCounters;
  /** Primary endpoint of the Redis replication group. @default - none in dev */
  readonly redisHost?: string;
  readonly maxRequestBodyKiB: number;
  readonly secretPrefix: string;
}

/**
 * The gateway's platform part: the NLB's security group (the only 0.0.0.0/0 ingress, tcp 443),
 * the ACM certificate, Redis in staging/prod, the `kong` namespace with its NetworkPolicies, the
 * plugin's Lua and the chart (which installs Kong's CRDs for the workloads part).
 */
export class KongGateway extends Construct implements IKongGateway {
  readonly helm: PinnedHelmRelease;
  readonly certificate: AcmCertificate;
  readonly loadBalancerSecurityGroup: SecurityGroup;
  readonly counters: KongRateLimitCounters;
  readonly redisHost?: string;
  readonly maxRequestBodyKiB: number;
  readonly secretPrefix: string;

  constructor(scope: Construct, id: string, props: KongGatewayProps) {
    super(scope, id);
    const replicas = props.replicas ?? DEFAULT_REPLICAS;
    const largest = largestTierBodyKiB(props.tiers);
    this.maxRequestBodyKiB = props.maxRequestBodyKiB ?? largest;
    if (this.maxRequestBodyKiB < largest) {
      throw new Error(`KongGateway ${this.node.path}: maxRequestBodyKiB = ${this.maxRequestBodyKiB} is below the largest tier's maxRequestBodyKiB (${largest}), which could never be reached. Fix: raise it to ${largest} or more, or leave it unset.`);
    }
    if (!/^[A-Za-z0-9/_+=.@-]{1,400}$/.test(props.secretPrefix)) {
      throw new Error(`KongGateway ${this.node.path}: secretPrefix = "${props.secretPrefix}" is not a Secrets Manager path. Fix: use a prefix such as "enchanted/prod/kong".`);
    }
    this.secretPrefix = props.secretPrefix;
    this.counters = props.redis ? "redis" : "local";

    // --- The public front door: the NLB's security group, the certificate -------------------------
    const edge = addGatewayEdge(this, props);
    this.loadBalancerSecurityGroup = edge.loadBalancerSecurityGroup;
    this.certificate = edge.certificate;
    const waitFor: ITerraformDependable[] = [...(props.dependsOn ?? []), ...(edge.certificateValidation ? [edge.certificateValidation] : [])];

    // --- Shared counters: ElastiCache Redis with TLS and an auth token (staging, prod) ----------
    if (props.redis) {
      this.redisHost = this.redis(props, props.redis);
    }

    // --- Kubernetes: namespace, NetworkPolicies, the plugin's Lua, the chart --------------------
    const namespace = new NamespaceV1(this, "namespace", {
      metadata: {
        name: KONG_NAMESPACE,
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
          "pod-security.kubernetes.io/audit": "restricted",
          "pod-security.kubernetes.io/warn": "restricted",
          "enchanted.io/namespace-kind": "platform",
        },
      },
    });
    this.networkPolicies(namespace, props);
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
      values: kongChartValues({
        replicas,
        certificateArn: this.certificate.arn,
        securityGroupId: this.loadBalancerSecurityGroup.id,
        publicSubnetIds: Fn.join(",", [...props.publicSubnetIds]),
        maxRequestBodyKiB: this.maxRequestBodyKiB,
      }),
    });
  }

  private redis(props: KongGatewayProps, redis: KongRedisProps): string {
    const nodes = redis.nodes ?? 2;
    if (!Number.isInteger(nodes) || nodes < 2 || nodes > 6) {
      throw new Error(`KongGateway ${this.node.path}: redis.nodes = ${nodes} must be 2 to 6 (a primary and at least one replica for failover). Fix: use 2 or 3.`);
    }
    if (redis.privateSubnetCidrs.length === 0) {
      throw new Error(`KongGateway ${this.node.path}: redis.privateSubnetCidrs is empty, so no pod could reach Redis. Fix: pass config.network.subnets.private.`);
    }
    const secrets = kongSecretNames(props.secretPrefix);
    const tokenSecret = new ManagedSecret(this, "redis-auth-token", {
      name: secrets.redisAuthToken,
      description: `Auth token of ${props.name}'s Kong rate-limit Redis (generated by Secrets Manager)`,
      key: props.secretsKey,
    });
    // Secrets Manager generates the token once; Terraform never regenerates it (ignore_changes).
    // It lives in the (encrypted) state, never in the synthesized JSON.
    const random = new DataAwsSecretsmanagerRandomPassword(this, "redis-auth-token-random", {
      passwordLength: REDIS_AUTH_TOKEN_LENGTH,
      excludePunctuation: true,
    });
    const tokenVersion = new SecretsmanagerSecretVersion(this, "redis-auth-token-value", {
      secretId: tokenSecret.arn,
      secretString: random.randomPassword,
      lifecycle: { ignoreChanges: ["secret_string"] },
    });
    const subnets = new ElasticacheSubnetGroup(this, "redis-subnets", {
      name: `${props.name}-kong-redis`,
      description: "Kong rate-limit Redis: data subnets",
      subnetIds: [...redis.dataSubnetIds],
    });
    const sg = new SecurityGroup(this, "redis-sg", {
      name: `${props.name}-kong-redis`,
      description: "Kong rate-limit Redis: 6379 from the private (pod) subnets only",
      vpcId: props.vpcId,
      ingress: [
        {
          description: "Redis from the pods' private subnets",
          protocol: "tcp",
          fromPort: REDIS_PORT,
          toPort: REDIS_PORT,
          cidrBlocks: [...redis.privateSubnetCidrs],
        },
      ],
      tags: { Name: `${props.name}-kong-redis` },
    });
    const group = new ElasticacheReplicationGroup(this, "redis", {
      replicationGroupId: `${props.name}-kong`.slice(0, 40),
      description: "Kong per-tenant rate-limit counters",
      engine: "redis",
      engineVersion: redis.engineVersion ?? DEFAULT_REDIS_ENGINE_VERSION,
      nodeType: redis.nodeType ?? DEFAULT_REDIS_NODE_TYPE,
      numCacheClusters: nodes,
      automaticFailoverEnabled: true,
      multiAzEnabled: true,
      port: REDIS_PORT,
      subnetGroupName: subnets.name,
      securityGroupIds: [sg.id],
      atRestEncryptionEnabled: "true",
      kmsKeyId: redis.key.keyArn,
      transitEncryptionEnabled: true,
      transitEncryptionMode: "required",
      authToken: tokenVersion.secretString,
      autoMinorVersionUpgrade: "true",
      tags: { Name: `${props.name}-kong-redis` },
    });
    return group.primaryEndpointAddress;
  }

  private networkPolicies(namespace: NamespaceV1, props: KongGatewayProps): void {
    const policy = (name: string, spec: NetworkPolicyV1Spec, ns: string = KONG_NAMESPACE) =>
      new NetworkPolicyV1(this, `netpol-${ns}-${name}`, { metadata: { name, namespace: ns }, spec, dependsOn: [namespace, ...(props.dependsOn ?? [])] });
    const tcp = (port: number) => ({ port: String(port), protocol: "TCP" });
    policy("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    policy("allow-dns", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [{ to: [{ ...namespacePeer("kube-system"), podSelector: { matchLabels: { "k8s-app": "kube-dns" } } }], ports: [{ port: String(PORTS.dns), protocol: "UDP" }, tcp(PORTS.dns)] }],
    });
    policy("allow-gateway", {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [
        // The NLB (ip targets) from its VPC addresses: the TLS proxy and the health check.
        { from: [{ ipBlock: { cidr: props.vpcCidr } }], ports: [tcp(KONG_PORTS.proxyTls), tcp(KONG_PORTS.status)] },
        // The controller configures the gateways through the admin API inside the namespace.
        { from: [namespacePeer(KONG_NAMESPACE)] },
      ],
      egress: [
        { to: [namespacePeer(KONG_NAMESPACE)] },
        { to: [namespacePeer(PROVISIONING_API.namespace)], ports: [tcp(PROVISIONING_API.port)] },
        // The Kubernetes API (private endpoint in the VPC) for the controller; Redis in the data subnets.
        { to: [{ ipBlock: { cidr: props.vpcCidr } }], ports: [tcp(PORTS.https), tcp(REDIS_PORT)] },
      ],
    });
    policy(
      "allow-kong-gateway",
      {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [namespacePeer(KONG_NAMESPACE)], ports: [tcp(PROVISIONING_API.port)] }],
      },
      PROVISIONING_API.namespace,
    );
  }
}
