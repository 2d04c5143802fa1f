/**
 * The gateway as the real environment stacks synthesize it: every API route class behind its own
 * token check (verified against the issuer's published key set), rate-limited and size-capped with
 * the catalog's numbers per tenant or per user, Keycloak's browser paths on the auth host, shared
 * counters outside dev, and the NLB's 443 the only door open to the internet.
 */
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, USER_LIMITS } from "../config/index.js";
import { KEYCLOAK_PUBLIC_PATH_PREFIXES } from "../constructs/keycloak/index.js";
import { GATEWAY_LOAD_BALANCER_TAG } from "../constructs/policy/index.js";
import { GATEWAY_PATHS, OPERATOR_AUDIENCE, TENANT_TOKEN, tenantTokenIssuer, USER_TOKEN_AUDIENCE } from "../services/identity/names.js";
import { issuerUrl, TENANT_CLAIM } from "../services/keycloak-realm/index.js";
import { stackName } from "../stacks/environment-stack.js";
import { resourcesOf, stackOf, synthAllEnvironments } from "./support/synth.js";

const tiers = loadTierCatalog();
type Manifest = { kind: string; plugin?: string; metadata: { name: string; labels?: Record<string, string> }; config?: Record<string, any> };
type Ingress = { metadata: { name: string; annotations?: Record<string, string> }; spec: { rule: { host: string; http: { path: { path: string; backend: { service: { name: string } } }[] } }[] } };

describe.each(ENVIRONMENT_NAMES)("%s gateway", (env) => {
  const config = loadEnvironment(env);
  const workloads = () => stackOf(env, "workloads");
  const plugins = () =>
    Object.values(resourcesOf(workloads(), "kubernetes_manifest"))
      .map((r) => r.manifest as Manifest)
      .filter((m) => m.kind === "KongClusterPlugin");

  const ingresses = () => Object.values(resourcesOf(workloads(), "kubernetes_ingress_v1")) as unknown as Ingress[];
  const gate = (mode: string) => plugins().find((p) => p.plugin === "tenant-gate" && p.config?.["mode"] === mode)?.config ?? {};

  it("applies a size cap and a correlation id to every route (global plugins)", () => {
    const global = plugins().filter((p) => p.metadata.labels?.global === "true").map((p) => p.plugin);
    expect(global.sort()).toEqual(["correlation-id", "request-size-limiting"]);
  });

  it("publishes the API by route class, each authenticated class behind its tenant-gate instance; Keycloak's browser paths alone on the auth host", () => {
    const byName = (name: string) => plugins().find((p) => p.metadata.name === name);
    const api = ingresses().filter((i) => i.spec.rule.every((r) => r.host === config.domains.api));
    const auth = ingresses().filter((i) => i.spec.rule.every((r) => r.host === config.domains.auth));
    expect(api.length + auth.length).toBe(ingresses().length);
    const classes: Record<string, string | undefined> = {};
    for (const ingress of api) {
      const paths = ingress.spec.rule.flatMap((r) => r.http.path.map((p) => p.path));
      const routeClass = (Object.keys(GATEWAY_PATHS) as (keyof typeof GATEWAY_PATHS)[]).find((c) => JSON.stringify(GATEWAY_PATHS[c].map((p) => `/~${p}`)) === JSON.stringify(paths));
      expect(routeClass, `${ingress.metadata.name}: ${paths.join(" ")}`).toBeDefined();
      const named = (ingress.metadata.annotations?.["konghq.com/plugins"] ?? "").split(",").filter(Boolean).map(byName);
      const mode = named.find((p) => p?.plugin === "tenant-gate")?.config?.["mode"];
      classes[routeClass as string] = mode;
    }
    // Every class has its Ingress; the three token classes run the instance of their own mode, the webhook and the key set none.
    expect(classes).toEqual({ user: "user", operator: "operator", tenant: "tenant", webhook: undefined, public: undefined });
    expect(auth).toHaveLength(1);
    expect(auth[0]?.spec.rule.flatMap((r) => r.http.path.map((p) => p.path))).toEqual([...KEYCLOAK_PUBLIC_PATH_PREFIXES]);
  });

  it("verifies user and operator tokens against the realm's key set and tenant tokens against the provisioning service's", () => {
    expect(gate("user")).toMatchObject({ issuer: issuerUrl(config.domains.auth), audience: USER_TOKEN_AUDIENCE, algorithms: ["RS256"], jwks_url: expect.stringMatching(/^http:\/\/keycloak-http\.platform\.svc\.cluster\.local\/realms\/enchanted\/protocol\/openid-connect\/certs$/) });
    expect(gate("operator")).toMatchObject({ issuer: issuerUrl(config.domains.auth), audience: OPERATOR_AUDIENCE, algorithms: ["RS256"] });
    expect(gate("tenant")).toMatchObject({ issuer: tenantTokenIssuer(config.domains.api), audience: TENANT_TOKEN.audience, algorithms: ["ES256"], jwks_url: "http://provisioning.platform.svc.cluster.local:8080/.well-known/jwks.json" });
  });

  it("keys tenant limits by the verified tenant claim with each tier's limits equal to the catalog, user limits per user with USER_LIMITS", () => {
    const tenant = gate("tenant");
    expect(tenant).toMatchObject({ tenant_claim: TENANT_CLAIM });
    expect(Object.keys(tenant["tiers"]).sort()).toEqual([...PLAN_TIER_NAMES].sort());
    for (const tier of PLAN_TIER_NAMES) {
      const g = tiers[tier].gateway;
      expect(tenant["tiers"][tier]).toMatchObject({ second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB });
    }
    expect(tenant["strip_headers"]).toContain("X-Tenant-Id");
    const u = USER_LIMITS.gateway;
    for (const mode of ["user", "operator"]) expect(gate(mode)["user_limits"]).toEqual({ second: u.requestsPerSecond, minute: u.requestsPerMinute, hour: u.requestsPerHour, max_body_kib: u.maxRequestBodyKiB });
  });

  it(`counts in ${env === "dev" ? "each pod (dev)" : "Redis over TLS with auth (shared by every Kong pod)"}`, () => {
    for (const mode of ["user", "operator", "tenant"]) expect(gate(mode)["policy"]).toBe(env === "dev" ? "local" : "redis");
    const redis = Object.values(resourcesOf(stackOf(env, "platform"), "aws_elasticache_replication_group"));
    if (env === "dev") expect(redis).toEqual([]);
    else {
      expect(redis).toHaveLength(1);
      expect(redis[0]).toMatchObject({ transit_encryption_enabled: true, at_rest_encryption_enabled: expect.anything() });
      expect(String(redis[0]?.auth_token)).toMatch(/^\$\{/);
    }
  });

  it("opens nothing to 0.0.0.0/0 but tcp 443 on the gateway load balancer's tagged security group", () => {
    const world = (r: Record<string, any>) =>
      [r.cidr_ipv4, r.cidr_ipv6, ...(r.cidr_blocks ?? []), ...(r.ipv6_cidr_blocks ?? [])].some((c) => c === "0.0.0.0/0" || c === "::/0");
    for (const kind of ["foundation", "platform", "workloads"] as const) {
      const stack = synthAllEnvironments()[stackName(env, kind)];
      const groups = resourcesOf(stack!, "aws_security_group");
      const open: { sg: Record<string, any> | undefined; rule: Record<string, any> }[] = [];
      for (const sg of Object.values(groups)) for (const rule of (sg.ingress as Record<string, any>[] | undefined) ?? []) if (world(rule)) open.push({ sg, rule });
      for (const rule of Object.values(resourcesOf(stack!, "aws_vpc_security_group_ingress_rule"))) {
        if (world(rule)) open.push({ sg: groups[/aws_security_group\.([^.}]+)\./.exec(String(rule.security_group_id))?.[1] as string], rule });
      }
      for (const { sg, rule } of open) {
        expect({ from: rule.from_port, to: rule.to_port, protocol: rule.protocol ?? rule.ip_protocol }).toEqual({ from: 443, to: 443, protocol: "tcp" });
        expect((sg?.tags as Record<string, string>)[GATEWAY_LOAD_BALANCER_TAG.key]).toBe(GATEWAY_LOAD_BALANCER_TAG.value);
      }
      if (kind === "platform") expect(open.length).toBeGreaterThan(0);
      else expect(open).toEqual([]);
    }
  });

  it("keeps Keycloak's database private and encrypted", () => {
    const [cluster] = Object.values(resourcesOf(stackOf(env, "platform"), "aws_rds_cluster"));
    expect(cluster).toMatchObject({ storage_encrypted: true, manage_master_user_password: true });
    expect(String(cluster?.kms_key_id)).toMatch(/^\$\{/);
    for (const instance of Object.values(resourcesOf(stackOf(env, "platform"), "aws_rds_cluster_instance"))) expect(instance.publicly_accessible).toBe(false);
  });

  it("has no consumer and no per-tenant Kong object", () => {
    const kinds = Object.values(resourcesOf(workloads(), "kubernetes_manifest")).map((r) => (r.manifest as Manifest).kind);
    expect(kinds.filter((k) => k === "KongConsumer")).toHaveLength(0);
    expect(plugins()).toHaveLength(6);
  });
});
