/**
 * The gateway per environment: every public route is verified, rate-limited and size-limited with
 * the catalog's numbers, keyed by the verified tenant claim; Redis counters in staging and prod;
 * the NLB's tcp 443 is the only 0.0.0.0/0 ingress; no secret in the synthesized JSON.
 */
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, HELM_CHARTS, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, type EnvironmentName } from "../../config/index.js";
import {
  KONG_INGRESS_CLASS,
  KONG_NAMESPACE,
  KONG_PLUGIN_NAMES,
  KONG_PORTS,
  KongGateway,
  KongGatewayRoutes,
  kongChartValues,
  kongGlobalPlugins,
  largestTierBodyKiB,
  TENANT_GATE_CONFIGMAP,
} from "../../constructs/gateway/index.js";
import { PROVISIONING_ENDPOINT } from "../../constructs/provisioning/index.js";
import { evaluatePolicy, GATEWAY_LOAD_BALANCER_TAG } from "../../constructs/policy/index.js";
import { TENANT_CLAIM, tenantGateSources } from "../../services/kong-plugins/tenant-gate.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "../support/synth.js";
import { API_AUDIENCE, issuerUrl } from "../../services/keycloak-realm/names.js";

const tiers = loadTierCatalog();
const key = { keyArn: "arn:aws:kms:eu-west-1:111122223333:key/0000-kong", aliasName: "alias/kong" };
const secretStore = { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" as const };
const AUDIENCE = API_AUDIENCE;

interface Synth {
  readonly platform: SynthesizedStack;
  readonly workloads: SynthesizedStack;
}

function synthGateway(env: EnvironmentName): Synth {
  const config = loadEnvironment(env);
  const stacks = synthApp((app) => {
    const platform = new TerraformStack(app, "platform");
    new AwsProvider(platform, "aws", { region: config.aws.region });
    new KubernetesProvider(platform, "kubernetes", {});
    new HelmProvider(platform, "helm", {});
    const gateway = new KongGateway(platform, "kong", {
      name: `enchanted-${env}`,
      tiers,
      apiDomain: config.domains.api,
      vpcId: "vpc-0a1b2c3d4e5f60718",
      vpcCidr: config.network.vpcCidr,
      publicSubnetIds: config.network.subnets.public.map((_, i) => `subnet-public${i}`),
      secretPrefix: `enchanted/${env}/kong`,
      secretsKey: key,
      backends: [PROVISIONING_ENDPOINT],
      replicas: env === "dev" ? 1 : 2,
      ...(env === "dev"
        ? {}
        : { redis: { dataSubnetIds: config.network.subnets.data.map((_, i) => `subnet-data${i}`), privateSubnetCidrs: config.network.subnets.private, key } }),
    });
    const workloads = new TerraformStack(app, "workloads");
    new AwsProvider(workloads, "aws", { region: config.aws.region });
    new KubernetesProvider(workloads, "kubernetes", {});
    new KongGatewayRoutes(workloads, "kong", {
      tiers,
      gateway,
      secretStore,
      apiDomain: config.domains.api,
      issuer: issuerUrl(config.domains.auth),
      audience: AUDIENCE,
      route: PROVISIONING_ENDPOINT,
    });
  });
  return { platform: stacks["platform"] as SynthesizedStack, workloads: stacks["workloads"] as SynthesizedStack };
}

type Manifest = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };
const manifests = (stack: SynthesizedStack, kind: string) =>
  Object.values(resourcesOf(stack, "kubernetes_manifest"))
    .map((r) => r.manifest as Manifest)
    .filter((m) => m.kind === kind);

/**
 * The plugins a route runs: Kong applies global plugins to every route unless the route (or its
 * service) configures a plugin of the same name, which then replaces the global one.
 */
function effectivePlugins(stack: SynthesizedStack, ingress: Record<string, any>): Map<string, Manifest> {
  const effective = new Map<string, Manifest>();
  for (const p of manifests(stack, "KongClusterPlugin")) {
    if (p.metadata.labels?.["global"] === "true" && p["disabled"] !== true) effective.set(p["plugin"], p);
  }
  const annotated = String(ingress.metadata?.annotations?.["konghq.com/plugins"] ?? "").split(",").filter(Boolean);
  const all = [...manifests(stack, "KongPlugin"), ...manifests(stack, "KongClusterPlugin")];
  for (const name of annotated) {
    const p = all.find((m) => m.metadata.name === name.trim());
    if (p) effective.set(p["plugin"], p);
  }
  return effective;
}

describe.each(ENVIRONMENT_NAMES)("%s: Kong gateway", (env) => {
  const config = loadEnvironment(env);
  const { platform, workloads } = synthGateway(env);
  const ingresses = Object.values(resourcesOf(workloads, "kubernetes_ingress_v1")) as Record<string, any>[];
  const redisPolicy = env === "dev" ? "local" : "redis";

  it("publishes only the provisioning API under /v1/ on the API domain", () => {
    expect(ingresses).toHaveLength(1);
    const spec = ingresses[0]?.spec;
    expect(spec.ingress_class_name).toBe(KONG_INGRESS_CLASS);
    expect(spec.rule).toEqual([
      {
        host: config.domains.api,
        http: { path: [{ path: "/v1/", path_type: "Prefix", backend: { service: { name: PROVISIONING_ENDPOINT.service, port: { number: PROVISIONING_ENDPOINT.port } } } }] },
      },
    ]);
    expect(ingresses[0]?.metadata.namespace).toBe(PROVISIONING_ENDPOINT.namespace);
  });

  it("every public route has token verification, the tenant-gate rate limit and a size limit", () => {
    for (const ingress of ingresses) {
      const plugins = effectivePlugins(workloads, ingress);
      const jwt = plugins.get("jwt");
      expect(jwt?.["config"]).toMatchObject({ key_claim_name: "iss", claims_to_verify: ["exp", "nbf"], uri_param_names: [], cookie_names: [] });
      expect(jwt?.["config"].maximum_expiration).toBeGreaterThan(0);
      const gate = plugins.get("tenant-gate");
      expect(gate?.["config"]).toMatchObject({ algorithms: ["RS256"], audience: AUDIENCE, issuer: issuerUrl(config.domains.auth), tenant_claim: TENANT_CLAIM });
      expect(plugins.get("request-size-limiting")?.["config"]).toEqual({ allowed_payload_size: largestTierBodyKiB(tiers), size_unit: "kilobytes", require_content_length: false });
      expect(plugins.has("correlation-id")).toBe(true);
    }
  });

  it("each tier's limits in the plugin config equal the catalog, keyed by the verified tenant_id claim", () => {
    const gate = manifests(workloads, "KongClusterPlugin").find((p) => p.metadata.name === KONG_PLUGIN_NAMES.tenantGate);
    expect(gate?.["config"].tenant_claim).toBe("tenant_id");
    expect(Object.keys(gate?.["config"].tiers).sort()).toEqual([...PLAN_TIER_NAMES].sort());
    for (const tier of PLAN_TIER_NAMES) {
      const g = tiers[tier].gateway;
      expect(gate?.["config"].tiers[tier]).toEqual({ second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB });
    }
  });

  it("configures no consumer or plugin per tenant (O(tiers))", () => {
    expect(manifests(workloads, "KongConsumer").map((c) => c.metadata.name)).toEqual(["keycloak-realm"]);
    expect(manifests(workloads, "KongPlugin")).toEqual([]);
    expect(manifests(workloads, "KongClusterPlugin").map((p) => p.metadata.name).sort()).toEqual(Object.values(KONG_PLUGIN_NAMES).sort());
  });

  it("verifies tokens with ONE realm credential: key = issuer, RS256, PEM synced from Secrets Manager", () => {
    const es = manifests(workloads, "ExternalSecret").find((m) => m.metadata.name === "keycloak-realm-jwt");
    expect(es?.["spec"].target.template).toEqual({
      mergePolicy: "Merge",
      metadata: { labels: { "konghq.com/credential": "jwt" } },
      data: { key: issuerUrl(config.domains.auth), algorithm: "RS256" },
    });
    expect(es?.["spec"].data).toEqual([{ secretKey: "rsa_public_key", remoteRef: { key: `enchanted/${env}/kong/keycloak-realm-public-key` } }]);
  });

  it(`counts in ${redisPolicy}${env === "dev" ? "" : " (ElastiCache, TLS, auth token from a Secret)"}`, () => {
    const gate = manifests(workloads, "KongClusterPlugin").find((p) => p.metadata.name === KONG_PLUGIN_NAMES.tenantGate);
    expect(gate?.["config"].policy).toBe(redisPolicy);
    const groups = Object.values(resourcesOf(platform, "aws_elasticache_replication_group"));
    if (env === "dev") {
      expect(groups).toHaveLength(0);
      expect(gate?.["config"].redis).toBeUndefined();
      return;
    }
    expect(gate?.["config"].redis).toMatchObject({ ssl: true, ssl_verify: true, port: 6379 });
    // A cross-stack reference to the replication group's primary endpoint.
    expect(gate?.["config"].redis.host).toMatch(/terraform_remote_state/);
    expect(JSON.stringify(platform.json.output)).toMatch(/aws_elasticache_replication_group\.[^.]+\.primary_endpoint_address/);
    expect(gate?.["config"].redis.password).toBeUndefined();
    expect(gate?.["configPatches"]).toEqual([{ path: "/redis/password", valueFrom: { secretKeyRef: { namespace: KONG_NAMESPACE, name: "kong-redis-auth", key: "password" } } }]);
    const [group] = groups as Record<string, any>[];
    expect(group).toMatchObject({ transit_encryption_enabled: true, transit_encryption_mode: "required", at_rest_encryption_enabled: "true", kms_key_id: key.keyArn, automatic_failover_enabled: true, multi_az_enabled: true });
    expect(group?.auth_token).toMatch(/^\$\{aws_secretsmanager_secret_version\.[^.]+\.secret_string\}$/);
    const sgs = Object.values(resourcesOf(platform, "aws_security_group")) as Record<string, any>[];
    const redisSg = sgs.find((s) => s.name === `enchanted-${env}-kong-redis`);
    expect(redisSg?.ingress).toEqual([expect.objectContaining({ protocol: "tcp", from_port: 6379, to_port: 6379, cidr_blocks: config.network.subnets.private })]);
    const subnetGroup = Object.values(resourcesOf(platform, "aws_elasticache_subnet_group"))[0] as Record<string, any>;
    expect(subnetGroup.subnet_ids).toEqual(config.network.subnets.data.map((_, i) => `subnet-data${i}`));
  });

  it("the NLB's tcp 443 is the only 0.0.0.0/0 ingress, and the policy pack agrees", () => {
    const open: string[] = [];
    for (const stack of [platform, workloads]) {
      for (const [id, sg] of Object.entries(resourcesOf(stack, "aws_security_group"))) {
        for (const rule of (sg["ingress"] as Record<string, any>[] | undefined) ?? []) {
          if ([...(rule["cidr_blocks"] ?? []), ...(rule["ipv6_cidr_blocks"] ?? [])].some((c: string) => c === "0.0.0.0/0" || c === "::/0")) {
            open.push(`${id}:${rule["protocol"]}:${rule["from_port"]}-${rule["to_port"]}:${JSON.stringify(sg["tags"])}`);
          }
        }
      }
      for (const type of ["aws_security_group_rule", "aws_vpc_security_group_ingress_rule"]) expect(resourcesOf(stack, type)).toEqual({});
      const findings = evaluatePolicy(stack.json as never).filter((f) => !f.suppressed);
      expect(findings.map((f) => `${f.ruleId} ${f.address}: ${f.reason}`)).toEqual([]);
    }
    // The check can fail: the same group opened on tcp 22 is caught by EC2-3.
    const broken = structuredClone(platform.json) as any;
    const nlb = Object.values(broken.resource.aws_security_group as Record<string, any>).find((sg) => sg.tags?.[GATEWAY_LOAD_BALANCER_TAG.key]);
    nlb.ingress.push({ ...nlb.ingress[0], from_port: 22, to_port: 22 });
    expect(evaluatePolicy(broken).map((f) => f.ruleId)).toContain("EC2-3");
    expect(open).toHaveLength(1);
    expect(open[0]).toMatch(/^[^:]+:tcp:443-443:/);
    expect(open[0]).toContain(`"${GATEWAY_LOAD_BALANCER_TAG.key}":"${GATEWAY_LOAD_BALANCER_TAG.value}"`);
  });

  it("installs the pinned ingress chart with the NLB annotations, TLS only, and the tested Lua", () => {
    const release = Object.values(resourcesOf(platform, "helm_release"))[0] as Record<string, any>;
    expect(release).toMatchObject({ chart: HELM_CHARTS.kongIngress.chart, version: HELM_CHARTS.kongIngress.version, repository: HELM_CHARTS.kongIngress.repository, namespace: KONG_NAMESPACE });
    // Terraform interpolations may hold quotes (join(",", [...])): make them JSON-safe first.
    const values = JSON.parse(String(release.values[0]).replace(/\$\{[^}]*\}/g, (m) => m.replace(/"/g, "'"))) as Record<string, any>;
    const proxy = values.gateway.proxy;
    expect(proxy.http).toEqual({ enabled: false });
    expect(proxy.tls).toMatchObject({ enabled: true, servicePort: 443, containerPort: KONG_PORTS.proxyTls });
    expect(proxy.annotations).toMatchObject({
      "service.beta.kubernetes.io/aws-load-balancer-type": "external",
      "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
      "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing",
      "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "443",
    });
    expect(proxy.annotations["service.beta.kubernetes.io/aws-load-balancer-ssl-cert"]).toMatch(/aws_acm_certificate\..*\.arn/);
    expect(proxy.annotations["service.beta.kubernetes.io/aws-load-balancer-security-groups"]).toMatch(/aws_security_group\..*\.id/);
    expect(values.gateway.plugins).toEqual({ configMaps: [{ pluginName: "tenant-gate", name: TENANT_GATE_CONFIGMAP }] });
    const cm = Object.values(resourcesOf(platform, "kubernetes_config_map_v1"))[0] as Record<string, any>;
    expect(cm.metadata.name).toBe(TENANT_GATE_CONFIGMAP);
    expect(cm.data).toEqual(tenantGateSources());
    const cert = Object.values(resourcesOf(platform, "aws_acm_certificate"))[0] as Record<string, any>;
    expect(cert).toMatchObject({ domain_name: config.domains.api, validation_method: "DNS" });
  });

  it("puts no secret value in the synthesized JSON", () => {
    for (const stack of [platform, workloads]) {
      expect(stack.text).not.toMatch(/"(auth_token|password|secret_string)"\s*:\s*"(?!\$\{)/);
    }
  });
});

describe("kongChartValues / kongGlobalPlugins", () => {
  const base = { certificateArn: "arn", securityGroupId: "sg-1", publicSubnetIds: "subnet-a,subnet-b", maxRequestBodyKiB: 8192 };

  it("runs restricted pods with PDBs when replicated", () => {
    const v = kongChartValues({ ...base, replicas: 2 }) as Record<string, any>;
    for (const part of [v.controller, v.gateway]) {
      expect(part.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      expect(part.containerSecurityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
      expect(part.podDisruptionBudget).toEqual({ enabled: true, maxUnavailable: 1 });
    }
    expect(v.gateway.env.nginx_http_client_max_body_size).toBe("8192k");
  });

  it("rejects bad props with the fix", () => {
    expect(() => kongChartValues({ ...base, replicas: 0 })).toThrow(/replicas = 0/);
    const gateway = { counters: "redis" as const, maxRequestBodyKiB: 8192, secretPrefix: "enchanted/dev/kong" };
    expect(() => kongGlobalPlugins({ tiers, gateway, issuer: "https://auth.example.com/realms/x", audience: "a" })).toThrow(/no redisHost/);
    expect(() => kongGlobalPlugins({ tiers, gateway: { ...gateway, counters: "local" }, issuer: "http://auth", audience: "a" })).toThrow(/issuer/);
  });
});
