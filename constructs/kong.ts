/**
 * The API gateway: Kong Ingress Controller with a DB-less Kong behind an internet-facing NLB
 * (TLS from ACM), the platform's only public listener (tcp 443).
 *
 * Every route gets, through global KongClusterPlugins (so a route cannot be published without them):
 * - `jwt` (bundled): RS256 signature against the Keycloak realm's key (ONE consumer for the realm,
 *   the key synced from Secrets Manager by External Secrets), `exp` and `nbf`, a maximum lifetime;
 * - `tenant-gate` (this repo, services/kong-plugins/tenant-gate): `alg`, `iss`, `aud`, `typ` again,
 *   the tenant and tier from the VERIFIED claims, client tenant headers stripped, the tier's body
 *   limit, per-tenant second/minute/hour limits from the tier catalog (Redis counters in staging
 *   and prod, local in dev);
 * - `request-size-limiting` (bundled): the global body cap (nginx `client_max_body_size` too);
 * - `correlation-id` (bundled): `X-Request-Id`.
 * Nothing here is per tenant: the config is O(tiers).
 *
 * Split like ClickHouse: {@link KongGateway} (platform stack: AWS resources, namespace, the Lua
 * ConfigMap and the chart, which installs the CRDs) and {@link KongGatewayRoutes} (workloads stack:
 * the custom resources and the Ingress).
 */
import { AcmCertificate } from "@cdktf/provider-aws/lib/acm-certificate/index.js";
import { AcmCertificateValidation } from "@cdktf/provider-aws/lib/acm-certificate-validation/index.js";
import { DataAwsSecretsmanagerRandomPassword } from "@cdktf/provider-aws/lib/data-aws-secretsmanager-random-password/index.js";
import { ElasticacheReplicationGroup } from "@cdktf/provider-aws/lib/elasticache-replication-group/index.js";
import { ElasticacheSubnetGroup } from "@cdktf/provider-aws/lib/elasticache-subnet-group/index.js";
import { Route53Record } from "@cdktf/provider-aws/lib/route53-record/index.js";
import { SecretsmanagerSecretVersion } from "@cdktf/provider-aws/lib/secretsmanager-secret-version/index.js";
import { SecurityGroup } from "@cdktf/provider-aws/lib/security-group/index.js";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import { IngressV1 } from "@cdktf/provider-kubernetes/lib/ingress-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { NamespaceV1 } from "@cdktf/provider-kubernetes/lib/namespace-v1/index.js";
import { NetworkPolicyV1, type NetworkPolicyV1Spec } from "@cdktf/provider-kubernetes/lib/network-policy-v1/index.js";
import { Fn, TerraformOutput, Token, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import { PLAN_TIER_NAMES, type TierCatalog } from "../config/tiers.js";
import { HELM_CHARTS } from "../config/versions.js";
import { TENANT_GATE_PLUGIN, tenantGateConfig, tenantGateSources } from "../services/kong-plugins/tenant-gate.js";
import type { IKmsKey } from "./kms-key.js";
import { ManagedSecret, SyncedSecret } from "./external-secrets.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";
import { namespacePeer } from "./k8s/network-policy.js";
import { NAMESPACES, PORTS, type ISecretStore, GATEWAY_NAMESPACE } from "./platform-interfaces.js";
import { GATEWAY_LOAD_BALANCER_TAG } from "./policy/rules/no-public-ingress.js";

/** Kong's `ingress` chart (controller + gateway subcharts): repository, name and pinned version. */
export const KONG_CHART = HELM_CHARTS.kongIngress;
/** Namespace of the controller and the gateway (created here, Pod Security `restricted`). */
export const KONG_NAMESPACE = GATEWAY_NAMESPACE;
export const KONG_RELEASE_NAME = "kong";
export const KONG_INGRESS_CLASS = "kong";
/** The ConfigMap with the tenant-gate plugin's Lua, mounted by the chart's `plugins.configMaps`. */
export const TENANT_GATE_CONFIGMAP = "kong-plugin-tenant-gate";

/** Ports of the gateway pods (the chart's defaults) and of the public listener. */
export const KONG_PORTS = {
  /** The NLB's only listener: TLS with the ACM certificate. */
  publicTls: PORTS.https,
  /** Kong's TLS proxy listener, the NLB's target (re-encrypted). */
  proxyTls: 8443,
  /** Kong's status listener (`/status/ready`), the NLB's health check. */
  status: 8100,
  /** Kong's admin API, reached only by the controller inside the namespace. */
  adminTls: 8444,
} as const;

/** The only backend published: the provisioning service's API. */
export const PROVISIONING_API = { namespace: NAMESPACES.platform, service: "provisioning", port: 8080, pathPrefix: "/v1/" } as const;

/** Port of ElastiCache Redis. */
export const REDIS_PORT = 6379;

/** Names of the gateway's global plugins (KongClusterPlugin names). */
export const KONG_PLUGIN_NAMES = {
  jwt: "keycloak-jwt",
  tenantGate: "tenant-gate",
  sizeCap: "request-size-cap",
  correlationId: "correlation-id",
} as const;

/** Header of the correlation id (bundled `correlation-id` plugin). */
export const CORRELATION_ID_HEADER = "X-Request-Id";

/** Secrets Manager secrets the gateway reads, under the given prefix (e.g. `enchanted/prod/kong`). */
export function kongSecretNames(secretPrefix: string) {
  return {
    /** PEM of the Keycloak realm's RS256 public key (put by whoever runs the realm). */
    realmPublicKey: `${secretPrefix}/keycloak-realm-public-key`,
    /** The ElastiCache auth token (generated by Secrets Manager at creation). */
    redisAuthToken: `${secretPrefix}/redis-auth-token`,
  } as const;
}

/** Kubernetes Secrets in {@link KONG_NAMESPACE}, synced by External Secrets. */
export const KONG_SECRETS = {
  realmCredential: "keycloak-realm-jwt",
  redisAuth: "kong-redis-auth",
  redisAuthKey: "password",
} as const;

const DEFAULT_REPLICAS = 2;
const DEFAULT_REDIS_NODE_TYPE = "cache.t4g.small";
const DEFAULT_REDIS_ENGINE_VERSION = "7.1";
const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 3600;
const TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06";
const REDIS_AUTH_TOKEN_LENGTH = 64;
const IPV4_ANYWHERE = "0.0.0.0/0";
const IPV6_ANYWHERE = "::/0";

/** The largest `maxRequestBodyKiB` of the catalog: the default global cap. */
export function largestTierBodyKiB(tiers: TierCatalog): number {
  return Math.max(...PLAN_TIER_NAMES.map((t) => tiers[t].gateway.maxRequestBodyKiB));
}

// ---------------------------------------------------------------------------------------------
// Chart values (pure)
// ---------------------------------------------------------------------------------------------

export interface KongChartValuesProps {
  /** Gateway and controller replicas. @default 2 */
  readonly replicas?: number;
  /** ARN of the ACM certificate of the NLB's TLS listener. */
  readonly certificateArn: string;
  /** The NLB's security group (tcp 443 from anywhere, tagged GATEWAY_LOAD_BALANCER_TAG). */
  readonly securityGroupId: string;
  /** Public subnets of the NLB, comma-separated (a token is fine). */
  readonly publicSubnetIds: string;
  /** Global body cap in KiB (nginx `client_max_body_size`). */
  readonly maxRequestBodyKiB: number;
}

/** Annotations of the proxy Service that make the AWS Load Balancer Controller build the NLB. */
export function nlbServiceAnnotations(props: Pick<KongChartValuesProps, "certificateArn" | "securityGroupId" | "publicSubnetIds">): Record<string, string> {
  const a = "service.beta.kubernetes.io/aws-load-balancer-";
  return {
    [`${a}type`]: "external",
    [`${a}nlb-target-type`]: "ip",
    [`${a}scheme`]: "internet-facing",
    [`${a}subnets`]: props.publicSubnetIds,
    [`${a}ssl-cert`]: props.certificateArn,
    [`${a}ssl-ports`]: String(KONG_PORTS.publicTls),
    [`${a}ssl-negotiation-policy`]: TLS_POLICY,
    [`${a}backend-protocol`]: "ssl",
    [`${a}security-groups`]: props.securityGroupId,
    [`${a}manage-backend-security-group-rules`]: "true",
    [`${a}healthcheck-protocol`]: "http",
    [`${a}healthcheck-port`]: String(KONG_PORTS.status),
    [`${a}healthcheck-path`]: "/status/ready",
  };
}

/**
 * The `ingress` chart's values: `controller` (KIC only) and `gateway` (DB-less Kong with the
 * tenant-gate plugin), restricted security contexts, PDBs, an NLB with only the TLS port.
 */
export function kongChartValues(props: KongChartValuesProps): Record<string, unknown> {
  const replicas = props.replicas ?? DEFAULT_REPLICAS;
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`kongChartValues: replicas = ${replicas} must be a positive integer. Fix: use 1 (dev) or 2 or more.`);
  }
  if (!Number.isInteger(props.maxRequestBodyKiB) || props.maxRequestBodyKiB < 1) {
    throw new Error(`kongChartValues: maxRequestBodyKiB = ${props.maxRequestBodyKiB} must be a positive integer. Fix: use the largest tier's maxRequestBodyKiB.`);
  }
  const pdb = { enabled: replicas > 1, maxUnavailable: 1 };
  const container = { enabled: true, ...RESTRICTED_CONTAINER_SECURITY_CONTEXT, runAsUser: 1000, runAsGroup: 1000 };
  const off = { enabled: false };
  return {
    controller: {
      replicaCount: replicas,
      podDisruptionBudget: pdb,
      securityContext: RESTRICTED_POD_SECURITY_CONTEXT,
      containerSecurityContext: container,
      ingressController: {
        ingressClass: KONG_INGRESS_CLASS,
        // No webhook: no certificate to manage and no control-plane path into the namespace.
        admissionWebhook: { enabled: false },
        env: { anonymous_reports: "false" },
      },
    },
    gateway: {
      replicaCount: replicas,
      podDisruptionBudget: pdb,
      securityContext: RESTRICTED_POD_SECURITY_CONTEXT,
      containerSecurityContext: container,
      env: {
        database: "off",
        router_flavor: "traditional",
        anonymous_reports: "off",
        // No Server / Via / X-Kong-* headers that advertise the gateway.
        headers: "off",
        // The global body cap, enforced by nginx even for chunked bodies.
        nginx_http_client_max_body_size: `${props.maxRequestBodyKiB}k`,
      },
      plugins: { configMaps: [{ pluginName: TENANT_GATE_PLUGIN, name: TENANT_GATE_CONFIGMAP }] },
      proxy: {
        enabled: true,
        type: "LoadBalancer",
        annotations: nlbServiceAnnotations(props),
        // Only TLS: the NLB has one listener, 443.
        http: off,
        tls: { enabled: true, servicePort: KONG_PORTS.publicTls, containerPort: KONG_PORTS.proxyTls, parameters: ["http2"] },
      },
      status: { enabled: true, http: { enabled: true, containerPort: KONG_PORTS.status } },
      // Enterprise-only listeners: the chart would otherwise create NodePort Services for them.
      manager: off,
      portal: off,
      portalapi: off,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Platform stack: AWS resources, namespace, Lua ConfigMap, chart
// ---------------------------------------------------------------------------------------------

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

    // --- The public front door: one listener, tcp 443, on a tagged security group ----------------
    this.loadBalancerSecurityGroup = new SecurityGroup(this, "nlb-sg", {
      name: `${props.name}-kong-nlb`,
      description: "Kong gateway NLB: HTTPS from the internet, to the Kong pods only",
      vpcId: props.vpcId,
      ingress: [
        {
          description: "HTTPS from the internet (the platform's only public listener)",
          protocol: "tcp",
          fromPort: KONG_PORTS.publicTls,
          toPort: KONG_PORTS.publicTls,
          cidrBlocks: [IPV4_ANYWHERE],
          ipv6CidrBlocks: [IPV6_ANYWHERE],
        },
      ],
      egress: [KONG_PORTS.proxyTls, KONG_PORTS.status].map((port) => ({
        description: port === KONG_PORTS.status ? "health checks of the Kong pods" : "TLS to the Kong pods",
        protocol: "tcp",
        fromPort: port,
        toPort: port,
        cidrBlocks: [props.vpcCidr],
      })),
      tags: { Name: `${props.name}-kong-nlb`, [GATEWAY_LOAD_BALANCER_TAG.key]: GATEWAY_LOAD_BALANCER_TAG.value },
    });

    this.certificate = new AcmCertificate(this, "certificate", {
      domainName: props.apiDomain,
      validationMethod: "DNS",
      keyAlgorithm: "EC_prime256v1",
      lifecycle: { createBeforeDestroy: true },
      tags: { Name: props.apiDomain },
    });
    const validation = Fn.element(Fn.tolist(this.certificate.domainValidationOptions), 0);
    const record = {
      name: Fn.lookup(validation, "resource_record_name", ""),
      type: Fn.lookup(validation, "resource_record_type", ""),
      value: Fn.lookup(validation, "resource_record_value", ""),
    };
    const waitFor: ITerraformDependable[] = [...(props.dependsOn ?? [])];
    if (props.hostedZoneId) {
      const dns = new Route53Record(this, "certificate-validation-record", {
        zoneId: props.hostedZoneId,
        name: Token.asString(record.name),
        type: Token.asString(record.type),
        records: [Token.asString(record.value)],
        ttl: 300,
        allowOverwrite: true,
      });
      waitFor.push(new AcmCertificateValidation(this, "certificate-validation", { certificateArn: this.certificate.arn, validationRecordFqdns: [dns.fqdn] }));
    } else {
      new TerraformOutput(this, "certificate-validation-record", {
        description: `DNS record that validates the ACM certificate of ${props.apiDomain}; create it in the public zone`,
        value: record,
      });
    }

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

// ---------------------------------------------------------------------------------------------
// Workloads stack: plugins, the realm's consumer, synced secrets, the Ingress
// ---------------------------------------------------------------------------------------------

export interface KongGatewayRoutesProps {
  readonly tiers: TierCatalog;
  /** The platform part (or the same facts through cross-stack references). */
  readonly gateway: IKongGateway;
  readonly secretStore: ISecretStore;
  /** The public API host name (`config.domains.api`). */
  readonly apiDomain: string;
  /** The realm's issuer, `https://<auth domain>/realms/<realm>` (Keycloak's `iss`). */
  readonly issuer: string;
  /** The audience the API's access tokens carry (Keycloak audience mapper). */
  readonly audience: string;
  /** Longest token lifetime accepted (`exp` - now), the jwt plugin's `maximum_expiration`. @default 3600 */
  readonly maxTokenLifetimeSeconds?: number;
}

/** A KongClusterPlugin, global (every route), as synthesized. */
export interface KongClusterPluginManifest {
  readonly apiVersion: "configuration.konghq.com/v1";
  readonly kind: "KongClusterPlugin";
  readonly metadata: { readonly name: string; readonly labels: Record<string, string>; readonly annotations: Record<string, string> };
  readonly plugin: string;
  readonly protocols: readonly string[];
  readonly config: Record<string, unknown>;
  readonly configPatches?: readonly unknown[];
}

/** The global plugins every route runs (pure, for tests). */
export function kongGlobalPlugins(props: KongGatewayRoutesProps): KongClusterPluginManifest[] {
  const maxLifetime = props.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  if (!Number.isInteger(maxLifetime) || maxLifetime < 60 || maxLifetime > 86_400) {
    throw new Error(`KongGatewayRoutes: maxTokenLifetimeSeconds = ${maxLifetime} must be 60 to 86400. Fix: match the realm's access token lifespan (default 300) with some slack.`);
  }
  if (!/^https:\/\/[^/]+\/realms\/[^/]+$/.test(props.issuer) && !Token.isUnresolved(props.issuer)) {
    throw new Error(`KongGatewayRoutes: issuer = "${props.issuer}" is not a Keycloak realm issuer. Fix: use "https://<auth domain>/realms/<realm>".`);
  }
  const g = props.gateway;
  if (g.counters === "redis" && !g.redisHost) {
    throw new Error(`KongGatewayRoutes: the gateway counts in Redis but has no redisHost. Fix: pass the KongGateway built with redis props.`);
  }
  const plugin = (name: string, kongPlugin: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}): KongClusterPluginManifest => ({
    apiVersion: "configuration.konghq.com/v1",
    kind: "KongClusterPlugin",
    metadata: { name, labels: { global: "true" }, annotations: { "kubernetes.io/ingress.class": KONG_INGRESS_CLASS } },
    plugin: kongPlugin,
    protocols: ["http", "https"],
    config,
    ...extra,
  });
  return [
    plugin(KONG_PLUGIN_NAMES.correlationId, "correlation-id", { header_name: CORRELATION_ID_HEADER, generator: "uuid#counter", echo_downstream: true }),
    plugin(KONG_PLUGIN_NAMES.jwt, "jwt", {
      // The realm's credential is found by the token's `iss`; its algorithm is RS256 only.
      key_claim_name: "iss",
      claims_to_verify: ["exp", "nbf"],
      maximum_expiration: maxLifetime,
      header_names: ["authorization"],
      // Tokens only in the Authorization header: never in URLs (logs) or cookies (CSRF).
      uri_param_names: [],
      cookie_names: [],
      secret_is_base64: false,
      run_on_preflight: true,
    }),
    plugin(
      KONG_PLUGIN_NAMES.tenantGate,
      TENANT_GATE_PLUGIN,
      tenantGateConfig({
        tiers: props.tiers,
        issuer: props.issuer,
        audience: props.audience,
        counters: g.counters === "redis" && g.redisHost ? { policy: "redis", host: g.redisHost } : { policy: "local" },
      }),
      g.counters === "redis"
        ? { configPatches: [{ path: "/redis/password", valueFrom: { secretKeyRef: { namespace: KONG_NAMESPACE, name: KONG_SECRETS.redisAuth, key: KONG_SECRETS.redisAuthKey } } }] }
        : {},
    ),
    plugin(KONG_PLUGIN_NAMES.sizeCap, "request-size-limiting", { allowed_payload_size: g.maxRequestBodyKiB, size_unit: "kilobytes", require_content_length: false }),
  ];
}

/**
 * The gateway's workloads part: the global plugins, ONE consumer for the Keycloak realm with its
 * RS256 key synced from Secrets Manager, the Redis token synced for the plugin, and the Ingress of
 * the provisioning API under `/v1/` (the only public route).
 */
export class KongGatewayRoutes extends Construct {
  readonly plugins: readonly KongClusterPluginManifest[];
  readonly ingress: IngressV1;

  constructor(scope: Construct, id: string, props: KongGatewayRoutesProps) {
    super(scope, id);
    const secrets = kongSecretNames(props.gateway.secretPrefix);
    this.plugins = kongGlobalPlugins(props);
    const pluginResources = this.plugins.map((manifest) => new Manifest(this, `plugin-${manifest.metadata.name}`, { manifest: manifest as unknown as Record<string, unknown> }));

    // The realm's key as a jwt credential: key = issuer, RS256, PEM from Secrets Manager.
    new Manifest(this, "realm-credential", {
      manifest: {
        apiVersion: "external-secrets.io/v1",
        kind: "ExternalSecret",
        metadata: { name: KONG_SECRETS.realmCredential, namespace: KONG_NAMESPACE },
        spec: {
          refreshInterval: "15m",
          secretStoreRef: { name: props.secretStore.storeName, kind: props.secretStore.storeKind },
          target: {
            name: KONG_SECRETS.realmCredential,
            creationPolicy: "Owner",
            template: {
              mergePolicy: "Merge",
              metadata: { labels: { "konghq.com/credential": "jwt" } },
              data: { key: props.issuer, algorithm: "RS256" },
            },
          },
          data: [{ secretKey: "rsa_public_key", remoteRef: { key: secrets.realmPublicKey } }],
        },
      },
    });
    const consumer = new Manifest(this, "realm-consumer", {
      manifest: {
        apiVersion: "configuration.konghq.com/v1",
        kind: "KongConsumer",
        metadata: { name: "keycloak-realm", namespace: KONG_NAMESPACE, annotations: { "kubernetes.io/ingress.class": KONG_INGRESS_CLASS } },
        username: "keycloak-realm",
        credentials: [KONG_SECRETS.realmCredential],
      },
    });
    if (props.gateway.counters === "redis") {
      new SyncedSecret(this, "redis-auth", {
        store: props.secretStore,
        namespace: KONG_NAMESPACE,
        secretName: KONG_SECRETS.redisAuth,
        remoteKey: secrets.redisAuthToken,
        data: [{ secretKey: KONG_SECRETS.redisAuthKey }],
      });
    }

    this.ingress = new IngressV1(this, "provisioning-api", {
      metadata: {
        name: "provisioning-api",
        namespace: PROVISIONING_API.namespace,
        annotations: { "konghq.com/protocols": "https", "konghq.com/strip-path": "false" },
      },
      spec: {
        ingressClassName: KONG_INGRESS_CLASS,
        rule: [
          {
            host: props.apiDomain,
            http: {
              path: [
                {
                  path: PROVISIONING_API.pathPrefix,
                  pathType: "Prefix",
                  backend: { service: { name: PROVISIONING_API.service, port: { number: PROVISIONING_API.port } } },
                },
              ],
            },
          },
        ],
      },
      // Published only once every global plugin (and the realm's consumer) is in place.
      dependsOn: [...pluginResources, consumer],
    });
  }
}
