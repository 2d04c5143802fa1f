/**
 * The gateway per environment: every API route class is published by its own Ingress with its own
 * token check (the tenant-gate instance of its class, verifying against the issuer's key set),
 * only the webhook and the key set go without a token, Keycloak's browser paths (and nothing of
 * its admin) are published on the auth host, the catalog's numbers reach the limits, Redis
 * counters in staging and prod, the NLB's tcp 443 is the only 0.0.0.0/0 ingress, the certificate
 * covers both hosts and both hosts get DNS records; no secret in the synthesized JSON.
 */
import { AwsProvider } from "@cdktf/provider-aws/lib/provider/index.js";
import { HelmProvider } from "@cdktf/provider-helm/lib/provider/index.js";
import { KubernetesProvider } from "@cdktf/provider-kubernetes/lib/provider/index.js";
import { TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, HELM_CHARTS, loadEnvironment, loadTierCatalog, loadUserLimits, PLAN_TIER_NAMES, type EnvironmentName } from "../../config/index.js";
import {
  API_ROUTE_CLASSES,
  gatewayLoadBalancerTags,
  KONG_INGRESS_CLASS,
  KONG_NAMESPACE,
  KONG_PLUGIN_NAMES,
  KONG_PORTS,
  KongGateway,
  KongGatewayRoutes,
  kongAuthPlugins,
  kongChartValues,
  largestTierBodyKiB,
  ROUTE_CLASS_REGEX_PRIORITY,
  TENANT_GATE_CONFIGMAP,
} from "../../constructs/gateway/index.js";
import { KEYCLOAK_PORTS, KEYCLOAK_PUBLIC_PATH_PREFIXES, KEYCLOAK_SERVICE, keycloakRealmJwksUrl } from "../../constructs/keycloak/index.js";
import { NAMESPACES } from "../../constructs/platform-interfaces.js";
import { evaluatePolicy, GATEWAY_LOAD_BALANCER_TAG } from "../../constructs/policy/index.js";
import { PROVISIONING_ENDPOINT } from "../../constructs/provisioning/index.js";
import { GATEWAY_PATHS, JWKS_PATH, OPERATOR_AUDIENCE, PROVISIONING_ROUTES, TENANT_TOKEN, tenantTokenIssuer, USER_TOKEN_AUDIENCE, type RouteAuth } from "../../services/identity/names.js";
import { issuerUrl } from "../../services/keycloak-realm/names.js";
import { tenantGateSources } from "../../services/kong-plugins/tenant-gate.js";
import { resourcesOf, synthApp, type SynthesizedStack } from "../support/synth.js";

const tiers = loadTierCatalog();
const userLimits = loadUserLimits();
const key = { keyArn: "arn:aws:kms:eu-west-1:111122223333:key/0000-kong", aliasName: "alias/kong" };
const secretStore = { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" as const };
const ZONE = "Z0123456789ABCDEFGHIJ";
const CLUSTER = "enchanted-test";
const KEYCLOAK_BACKEND = { namespace: NAMESPACES.platform, port: KEYCLOAK_PORTS.http };

interface Synth {
  readonly platform: SynthesizedStack;
  readonly workloads: SynthesizedStack;
}

function synthGateway(env: EnvironmentName, hostedZoneId?: string): Synth {
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
      authDomain: config.domains.auth,
      ...(hostedZoneId ? { hostedZoneId } : {}),
      vpcId: "vpc-0a1b2c3d4e5f60718",
      vpcCidr: config.network.vpcCidr,
      publicSubnetIds: config.network.subnets.public.map((_, i) => `subnet-public${i}`),
      secretPrefix: `enchanted/${env}/kong`,
      secretsKey: key,
      backends: [PROVISIONING_ENDPOINT, KEYCLOAK_BACKEND],
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
      userLimits,
      gateway,
      secretStore,
      apiDomain: config.domains.api,
      authDomain: config.domains.auth,
      api: PROVISIONING_ENDPOINT,
      identity: { namespace: NAMESPACES.platform, service: KEYCLOAK_SERVICE.name, port: KEYCLOAK_SERVICE.port },
      identityPaths: KEYCLOAK_PUBLIC_PATH_PREFIXES,
      realm: { issuer: issuerUrl(config.domains.auth), jwksUrl: keycloakRealmJwksUrl() },
      dns: { clusterName: CLUSTER, ...(hostedZoneId ? { hostedZoneId } : {}) },
    });
  });
  return { platform: stacks["platform"] as SynthesizedStack, workloads: stacks["workloads"] as SynthesizedStack };
}

type Manifest = { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };
type Ingress = { metadata: { name: string; namespace: string; annotations: Record<string, string> }; spec: { ingress_class_name: string; rule: { host: string; http: { path: { path: string; path_type: string; backend: any }[] } }[] } };
const manifests = (stack: SynthesizedStack, kind: string) =>
  Object.values(resourcesOf(stack, "kubernetes_manifest"))
    .map((r) => r.manifest as Manifest)
    .filter((m) => m.kind === kind);
const ingressesOf = (stack: SynthesizedStack) => Object.values(resourcesOf(stack, "kubernetes_ingress_v1")) as unknown as Ingress[];

/**
 * The plugins a route runs: Kong applies global plugins to every route unless the route (or its
 * service) configures a plugin of the same name, which then replaces the global one.
 */
function effectivePlugins(stack: SynthesizedStack, ingress: Ingress): Map<string, Manifest> {
  const effective = new Map<string, Manifest>();
  for (const p of manifests(stack, "KongClusterPlugin")) {
    if (p.metadata.labels?.["global"] === "true" && p["disabled"] !== true) effective.set(p["plugin"], p);
  }
  const annotated = String(ingress.metadata.annotations["konghq.com/plugins"] ?? "").split(",").filter(Boolean);
  const all = [...manifests(stack, "KongPlugin"), ...manifests(stack, "KongClusterPlugin")];
  for (const name of annotated) {
    const p = all.find((m) => m.metadata.name === name.trim());
    if (p) effective.set(p["plugin"], p);
  }
  return effective;
}

/**
 * Kong's choice among the API Ingresses for a request path (the traditional router: regex paths
 * by regex priority, highest first; every API path here is a regex path), as the Ingress name.
 */
function routeOf(ingresses: readonly Ingress[], host: string, path: string): Ingress | undefined {
  const candidates = ingresses
    .filter((i) => i.spec.rule.some((r) => r.host === host))
    .flatMap((i) => i.spec.rule.flatMap((r) => r.http.path.map((p) => ({ i, p }))))
    .filter(({ p }) => p.path.startsWith("/~") && new RegExp(p.path.slice(2)).test(path))
    .sort((a, b) => Number(b.i.metadata.annotations["konghq.com/regex-priority"] ?? 0) - Number(a.i.metadata.annotations["konghq.com/regex-priority"] ?? 0));
  const best = candidates[0];
  const tied = candidates.filter((c) => c.i.metadata.annotations["konghq.com/regex-priority"] === best?.i.metadata.annotations["konghq.com/regex-priority"] && c.i !== best?.i);
  expect(tied, `${path} matches two Ingresses of the same regex priority`).toEqual([]);
  return best?.i;
}

describe.each(ENVIRONMENT_NAMES)("%s: Kong gateway", (env) => {
  const config = loadEnvironment(env);
  const { platform, workloads } = synthGateway(env);
  const ingresses = ingressesOf(workloads);
  const apiIngress = (routeClass: RouteAuth) => ingresses.find((i) => i.metadata.name === `${PROVISIONING_ENDPOINT.service}-api-${routeClass}`) as Ingress;
  const redisPolicy = env === "dev" ? "local" : "redis";
  const authPlugin = (mode: "user" | "operator" | "tenant") => manifests(workloads, "KongClusterPlugin").find((p) => p.metadata.name === KONG_PLUGIN_NAMES.auth[mode]);

  it("publishes the provisioning API on the API host by route class, one Ingress each, with the contract's paths as Kong regex paths", () => {
    expect(ingresses.map((i) => i.metadata.name).sort()).toEqual([...API_ROUTE_CLASSES.map((c) => `provisioning-api-${c}`), `${KEYCLOAK_SERVICE.name}-public`].sort());
    for (const routeClass of API_ROUTE_CLASSES) {
      const ingress = apiIngress(routeClass);
      expect(ingress.metadata.namespace).toBe(PROVISIONING_ENDPOINT.namespace);
      expect(ingress.spec.ingress_class_name).toBe(KONG_INGRESS_CLASS);
      expect(ingress.metadata.annotations).toMatchObject({ "konghq.com/protocols": "https", "konghq.com/strip-path": "false", "konghq.com/regex-priority": String(ROUTE_CLASS_REGEX_PRIORITY[routeClass]) });
      expect(ingress.spec.rule).toEqual([
        {
          host: config.domains.api,
          http: {
            path: GATEWAY_PATHS[routeClass].map((p) => ({
              path: `/~${p}`,
              path_type: "ImplementationSpecific",
              backend: { service: { name: PROVISIONING_ENDPOINT.service, port: { number: PROVISIONING_ENDPOINT.port } } },
            })),
          },
        },
      ]);
    }
  });

  it("routes every route of the identity contract to the Ingress of its auth class (the catch-all tenant class last)", () => {
    const api = API_ROUTE_CLASSES.map(apiIngress);
    for (const route of PROVISIONING_ROUTES) {
      const path = route.url.replace(/:[A-Za-z]+/g, "x-1");
      expect(routeOf(api, config.domains.api, path)?.metadata.name, `${route.method} ${route.url}`).toBe(`provisioning-api-${route.auth}`);
    }
    // Paths the contract does not name still need a tenant token; nothing outside /v1/ and the key set is routed.
    expect(routeOf(api, config.domains.api, "/v1/tenants/")?.metadata.name).toBe("provisioning-api-tenant");
    expect(routeOf(api, config.domains.api, "/v1/billing/other")?.metadata.name).toBe("provisioning-api-tenant");
    for (const path of ["/", "/healthz", "/metrics", "/readyz", "/.well-known/jwks.json.bak", "/v2/tenants"]) expect(routeOf(api, config.domains.api, path), path).toBeUndefined();
  });

  it("each authenticated class runs its own tenant-gate instance; only the webhook and the key set go without a token", () => {
    const realm = { issuer: issuerUrl(config.domains.auth), jwksUrl: keycloakRealmJwksUrl() };
    const tenantJwks = `http://${PROVISIONING_ENDPOINT.service}.${PROVISIONING_ENDPOINT.namespace}.svc.cluster.local:${PROVISIONING_ENDPOINT.port}${JWKS_PATH}`;
    const expected = {
      user: { mode: "user", issuer: realm.issuer, jwks_url: realm.jwksUrl, audience: USER_TOKEN_AUDIENCE, algorithms: ["RS256"], token_type: "Bearer", token_type_in: "claim" },
      operator: { mode: "operator", issuer: realm.issuer, jwks_url: realm.jwksUrl, audience: OPERATOR_AUDIENCE, algorithms: ["RS256"], required_realm_roles: ["platform-admin"] },
      tenant: { mode: "tenant", issuer: tenantTokenIssuer(config.domains.api), jwks_url: tenantJwks, audience: TENANT_TOKEN.audience, algorithms: ["ES256"], token_type: "at+jwt", token_type_in: "header" },
    } as const;
    for (const routeClass of API_ROUTE_CLASSES) {
      const plugins = effectivePlugins(workloads, apiIngress(routeClass));
      expect(plugins.get("request-size-limiting")?.["config"]).toEqual({ allowed_payload_size: largestTierBodyKiB(tiers), size_unit: "kilobytes", require_content_length: false });
      expect(plugins.has("correlation-id")).toBe(true);
      const gate = plugins.get("tenant-gate");
      if (routeClass === "webhook" || routeClass === "public" || routeClass === "agent") {
        expect(gate).toBeUndefined();
        expect(plugins.get("request-transformer")?.["config"].remove.headers).toEqual(expect.arrayContaining(["X-Tenant-Id", "X-Plan-Tier", "X-User-Id"]));
      } else {
        expect(gate?.metadata.name).toBe(KONG_PLUGIN_NAMES.auth[routeClass]);
        expect(gate?.["config"]).toMatchObject(expected[routeClass]);
      }
    }
    // The realm's key set is fetched from Keycloak in the cluster; the gateway's egress reaches it.
    expect(realm.jwksUrl).toBe(`http://${KEYCLOAK_SERVICE.name}.${NAMESPACES.platform}.svc.cluster.local/realms/enchanted/protocol/openid-connect/certs`);
    const egress = Object.values(resourcesOf(platform, "kubernetes_network_policy_v1")).flatMap((p: any) => p.spec.egress ?? []);
    expect(egress).toContainEqual(expect.objectContaining({ to: [{ namespace_selector: { match_labels: { "kubernetes.io/metadata.name": NAMESPACES.platform } } }], ports: [{ port: "8080", protocol: "TCP" }] }));
  });

  it("verifies tokens against published key sets only: no jwt plugin, no consumer, no copied realm key", () => {
    expect(manifests(workloads, "KongConsumer")).toEqual([]);
    expect(manifests(workloads, "KongClusterPlugin").map((p) => p["plugin"])).not.toContain("jwt");
    expect(manifests(workloads, "ExternalSecret").map((m) => m.metadata.name)).not.toContain("keycloak-realm-jwt");
    expect(workloads.text).not.toMatch(/keycloak-realm-public-key|rsa_public_key/);
  });

  it("has the catalog's limits per tier in the tenant instance and USER_LIMITS in the user and operator instances", () => {
    const tenant = authPlugin("tenant")?.["config"];
    expect(tenant.tenant_claim).toBe("tenant_id");
    expect(Object.keys(tenant.tiers).sort()).toEqual([...PLAN_TIER_NAMES].sort());
    for (const tier of PLAN_TIER_NAMES) {
      const g = tiers[tier].gateway;
      expect(tenant.tiers[tier]).toEqual({ second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB });
    }
    const u = userLimits.gateway;
    for (const mode of ["user", "operator"] as const) {
      expect(authPlugin(mode)?.["config"].user_limits).toEqual({ second: u.requestsPerSecond, minute: u.requestsPerMinute, hour: u.requestsPerHour, max_body_kib: u.maxRequestBodyKiB });
    }
  });

  it("configures no consumer or plugin per tenant (O(tiers))", () => {
    expect(manifests(workloads, "KongPlugin")).toEqual([]);
    const names = manifests(workloads, "KongClusterPlugin").map((p) => p.metadata.name).sort();
    expect(names).toEqual([KONG_PLUGIN_NAMES.correlationId, KONG_PLUGIN_NAMES.sizeCap, ...Object.values(KONG_PLUGIN_NAMES.auth), KONG_PLUGIN_NAMES.stripHeaders].sort());
    expect(manifests(workloads, "KongClusterPlugin").filter((p) => p.metadata.labels?.["global"] === "true").map((p) => p.metadata.name).sort()).toEqual([KONG_PLUGIN_NAMES.correlationId, KONG_PLUGIN_NAMES.sizeCap].sort());
  });

  it("publishes Keycloak on the auth host under the realm's and the resources' paths only, on its HTTP port", () => {
    const kc = ingresses.find((i) => i.metadata.name === `${KEYCLOAK_SERVICE.name}-public`) as Ingress;
    expect(kc.metadata.namespace).toBe(NAMESPACES.platform);
    expect(kc.spec.rule).toEqual([
      {
        host: config.domains.auth,
        http: { path: KEYCLOAK_PUBLIC_PATH_PREFIXES.map((path) => ({ path, path_type: "Prefix", backend: { service: { name: KEYCLOAK_SERVICE.name, port: { number: 80 } } } })) },
      },
    ]);
    expect(KEYCLOAK_PUBLIC_PATH_PREFIXES).toEqual(["/realms/enchanted/", "/resources/"]);
    expect(effectivePlugins(workloads, kc).has("tenant-gate")).toBe(false);
    // No other Ingress names the auth host.
    expect(ingresses.filter((i) => i.spec.rule.some((r) => r.host === config.domains.auth))).toEqual([kc]);
  });

  it(`counts in ${redisPolicy}${env === "dev" ? "" : " (ElastiCache, TLS, auth token from a Secret)"} in every tenant-gate instance`, () => {
    const groups = Object.values(resourcesOf(platform, "aws_elasticache_replication_group"));
    for (const mode of ["user", "operator", "tenant"] as const) {
      const gate = authPlugin(mode);
      expect(gate?.["config"].policy).toBe(redisPolicy);
      if (env === "dev") {
        expect(gate?.["config"].redis).toBeUndefined();
        continue;
      }
      expect(gate?.["config"].redis).toMatchObject({ ssl: true, ssl_verify: true, port: 6379 });
      // A cross-stack reference to the replication group's primary endpoint.
      expect(gate?.["config"].redis.host).toMatch(/terraform_remote_state/);
      expect(gate?.["config"].redis.password).toBeUndefined();
      expect(gate?.["configPatches"]).toEqual([{ path: "/redis/password", valueFrom: { secretKeyRef: { namespace: KONG_NAMESPACE, name: "kong-redis-auth", key: "password" } } }]);
    }
    if (env === "dev") {
      expect(groups).toHaveLength(0);
      return;
    }
    expect(JSON.stringify(platform.json.output)).toMatch(/aws_elasticache_replication_group\.[^.]+\.primary_endpoint_address/);
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

  it("the policy pack refuses a route without its token check and Keycloak's admin on the auth host (GW-1, GW-2)", () => {
    const broken = structuredClone(workloads.json) as any;
    const all = Object.values(broken.resource.kubernetes_ingress_v1 as Record<string, any>);
    const tenant = all.find((i) => i.metadata.name === "provisioning-api-tenant");
    delete tenant.metadata.annotations["konghq.com/plugins"];
    const kc = all.find((i) => i.metadata.name === `${KEYCLOAK_SERVICE.name}-public`);
    kc.spec.rule[0].http.path.push({ ...kc.spec.rule[0].http.path[0], path: "/admin/" });
    const findings = evaluatePolicy(broken).map((f) => `${f.ruleId} ${f.reason}`);
    expect(findings).toEqual(expect.arrayContaining([expect.stringMatching(/^GW-1 .*"\/~\^\/v1\/" .*runs no tenant-gate/), expect.stringMatching(/^GW-2 .*"\/admin\/" publishes the admin console/)]));
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
    expect(Object.keys(cm.data).sort()).toEqual(["handler.lua", "jwks.lua", "jws.lua", "schema.lua"]);
  });

  it("without a zone: one certificate for both hosts, its validation records and the hosts' NLB as outputs", () => {
    const cert = Object.values(resourcesOf(platform, "aws_acm_certificate"))[0] as Record<string, any>;
    expect(cert).toMatchObject({ domain_name: config.domains.api, subject_alternative_names: [config.domains.auth], validation_method: "DNS" });
    expect(resourcesOf(platform, "aws_route53_record")).toEqual({});
    expect(Object.keys(platform.json.output ?? {}).join(" ")).toMatch(/certificate-validation-records/);
    expect(resourcesOf(workloads, "aws_route53_record")).toEqual({});
    const lb = Object.values(workloads.json.data?.["aws_lb"] ?? {}) as Record<string, any>[];
    expect(lb).toEqual([expect.objectContaining({ tags: gatewayLoadBalancerTags(CLUSTER) })]);
    expect(Object.keys(workloads.json.output ?? {}).join(" ")).toMatch(/gateway-host-records/);
  });

  it("puts no secret value in the synthesized JSON", () => {
    for (const stack of [platform, workloads]) {
      expect(stack.text).not.toMatch(/"(auth_token|password|secret_string)"\s*:\s*"(?!\$\{)/);
    }
  });
});

describe("with the hosts' zone", () => {
  const { platform, workloads } = synthGateway("staging", ZONE);
  const config = loadEnvironment("staging");

  it("validates the certificate with one record per host and waits for it", () => {
    const records = resourcesOf(platform, "aws_route53_record");
    const [validation] = Object.values(records) as Record<string, any>[];
    expect(Object.keys(records)).toHaveLength(1);
    expect(validation).toMatchObject({ zone_id: ZONE, type: "${each.value.resource_record_type}", name: "${each.value.resource_record_name}", allow_overwrite: true });
    expect(String(validation?.for_each)).toMatch(/aws_acm_certificate\.[^.]+\.domain_validation_options/);
    expect(String(validation?.for_each)).toMatch(/domain_name/);
    const wait = Object.values(resourcesOf(platform, "aws_acm_certificate_validation"))[0] as Record<string, any>;
    expect(wait.validation_record_fqdns).toMatch(/^\$\{\[ for key, val in aws_route53_record\.[^:]+: val\.fqdn\]\}$/);
  });

  it("points both hosts at the gateway's NLB, found by the load balancer controller's tags, with alias A records", () => {
    const [lbId, lb] = Object.entries(workloads.json.data?.["aws_lb"] ?? {})[0] ?? [];
    expect(lb).toMatchObject({ tags: { "elbv2.k8s.aws/cluster": CLUSTER, "service.k8s.aws/stack": "kong/kong-gateway-proxy" } });
    const records = Object.values(resourcesOf(workloads, "aws_route53_record")) as Record<string, any>[];
    expect(records.map((r) => r.name).sort()).toEqual([config.domains.api, config.domains.auth].sort());
    for (const r of records) {
      expect(r).toMatchObject({ zone_id: ZONE, type: "A" });
      expect(r.alias).toEqual({ name: `\${data.aws_lb.${lbId}.dns_name}`, zone_id: `\${data.aws_lb.${lbId}.zone_id}`, evaluate_target_health: true });
    }
  });
});

describe("kongChartValues / kongAuthPlugins", () => {
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
    const gateway = { counters: "redis" as const, maxRequestBodyKiB: 8192 };
    const ok = { tiers, userLimits, realm: { issuer: "https://auth.example.com/realms/x", jwksUrl: "http://keycloak-http.platform.svc.cluster.local/realms/x/protocol/openid-connect/certs" }, tenantTokens: { issuer: "https://api.example.com", jwksUrl: "http://provisioning.platform.svc.cluster.local:8080/.well-known/jwks.json" } };
    expect(() => kongAuthPlugins({ ...ok, gateway })).toThrow(/no redisHost/);
    const local = { ...gateway, counters: "local" as const };
    expect(() => kongAuthPlugins({ ...ok, gateway: local, realm: { ...ok.realm, issuer: "http://auth" } })).toThrow(/realm.issuer/);
    expect(() => kongAuthPlugins({ ...ok, gateway: local, tenantTokens: { ...ok.tenantTokens, issuer: "https://api.example.com/v1" } })).toThrow(/tenantTokens.issuer/);
    expect(() => kongAuthPlugins({ ...ok, gateway: local, tenantTokens: { ...ok.tenantTokens, jwksUrl: "provisioning:8080" } })).toThrow(/tenantTokens.jwksUrl/);
  });
});
