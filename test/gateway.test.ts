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
import { EVENTS_API_GATEWAY_PATHS, EVENTS_API_ROUTES, GATEWAY_PATHS, OPERATOR_AUDIENCE, PROVISIONING_ROUTES, TENANT_TOKEN, tenantTokenIssuer, USER_TOKEN_AUDIENCE } from "../services/identity/names.js";
import { EVENTS_API_ENDPOINT } from "../constructs/events-api/index.js";
import { KONG_PLUGIN_NAMES } from "../constructs/gateway/index.js";
import { PROVISIONING_ENDPOINT } from "../constructs/provisioning/index.js";
import { issuerUrl, TENANT_CLAIM } from "../services/keycloak-realm/index.js";
import { stackName } from "../stacks/environment-stack.js";
import { resourcesOf, stackOf, synthAllEnvironments } from "./support/synth.js";

const tiers = loadTierCatalog();
type Manifest = { kind: string; plugin?: string; metadata: { name: string; labels?: Record<string, string> }; config?: Record<string, any> };
type Ingress = { metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; spec: { rule: { host: string; http: { path: { path: string; backend: { service: { name: string } } }[] } }[] } };

/** The events API's Ingress. */
const eventsIngressName = `${EVENTS_API_ENDPOINT.service}-tenant`;

/** An Ingress's Kong regex priority (0 when unset, as Kong takes it). */
function priority(ingress: Ingress | undefined): number {
  return Number(ingress?.metadata.annotations?.["konghq.com/regex-priority"] ?? 0);
}

/** A concrete request path of a fastify route (`:param` replaced by a value). */
function samplePath(url: string): string {
  return url.replace(/:[A-Za-z]+/g, "id-42");
}

describe("the events API's gateway paths (the PCRE of EVENTS_API_GATEWAY_PATHS as JS RegExp)", () => {
  const patterns = EVENTS_API_GATEWAY_PATHS.map((p) => new RegExp(p));
  const matches = (path: string) => patterns.some((p) => p.test(path));

  it("match every events API route, and no provisioning route", () => {
    for (const route of EVENTS_API_ROUTES) expect(matches(samplePath(route.url)), route.url).toBe(true);
    for (const route of PROVISIONING_ROUTES) expect(matches(samplePath(route.url)), route.url).toBe(false);
  });

  it("match nothing beyond the events API's routes (a sibling or a longer path stays with the tenant class)", () => {
    for (const path of ["/v1/events/a/b", "/v1/loopsx", "/v1/agents/a/crash-context/x", "/v1/projects/p/jobs", "/v1/usage/today", "/v2/events"]) expect(matches(path), path).toBe(false);
  });

  it("are all tenant routes, which the tenant class alone would also match: hence their priority", () => {
    for (const route of EVENTS_API_ROUTES) {
      expect(route.auth).toBe("tenant");
      expect(GATEWAY_PATHS.tenant.some((p) => new RegExp(p).test(samplePath(route.url))), route.url).toBe(true);
      for (const routeClass of ["user", "operator", "webhook", "public", "agent"] as const) {
        expect(GATEWAY_PATHS[routeClass].some((p) => new RegExp(p).test(samplePath(route.url))), `${route.url} in ${routeClass}`).toBe(false);
      }
    }
  });
});

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
    const api = ingresses().filter((i) => i.spec.rule.every((r) => r.host === config.domains.api) && i.metadata.name !== eventsIngressName);
    const auth = ingresses().filter((i) => i.spec.rule.every((r) => r.host === config.domains.auth));
    expect(api.length + auth.length + 1).toBe(ingresses().length);
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

  it("sends the events API's paths to the events API, behind the tenant class's tenant-gate instance, above the catch-all tenant class", () => {
    const events = ingresses().find((i) => i.metadata.name === eventsIngressName);
    expect(events?.metadata).toMatchObject({ namespace: EVENTS_API_ENDPOINT.namespace });
    expect(events?.metadata.annotations).toMatchObject({ "konghq.com/plugins": KONG_PLUGIN_NAMES.auth.tenant, "konghq.com/protocols": "https", "konghq.com/strip-path": "false" });
    expect(plugins().find((p) => p.metadata.name === KONG_PLUGIN_NAMES.auth.tenant)?.config?.["mode"]).toBe("tenant");
    expect(events?.spec.rule).toEqual([
      {
        host: config.domains.api,
        http: { path: EVENTS_API_GATEWAY_PATHS.map((p) => ({ path: `/~${p}`, path_type: "ImplementationSpecific", backend: { service: { name: EVENTS_API_ENDPOINT.service, port: { number: EVENTS_API_ENDPOINT.port } } } })) },
      },
    ]);
    const tenantClass = ingresses().find((i) => i.metadata.name === "provisioning-api-tenant");
    expect(priority(events)).toBeGreaterThan(priority(tenantClass));
  });

  it("routes every events API route to the events API and every provisioning route to the provisioning service, as Kong picks among regex paths (highest priority first)", () => {
    // Kong's router on the API host: the regex paths of every Ingress, the highest regex priority that matches wins.
    const routes = ingresses()
      .filter((i) => i.spec.rule.every((r) => r.host === config.domains.api))
      .flatMap((i) => i.spec.rule.flatMap((r) => r.http.path.map((p) => ({ regex: new RegExp(p.path.replace(/^\/~/, "")), priority: priority(i), service: p.backend.service.name }))));
    const serviceFor = (path: string) => {
      const matching = routes.filter((r) => r.regex.test(path));
      const top = Math.max(...matching.map((r) => r.priority));
      return [...new Set(matching.filter((r) => r.priority === top).map((r) => r.service))];
    };
    for (const route of EVENTS_API_ROUTES) expect(serviceFor(samplePath(route.url)), route.url).toEqual([EVENTS_API_ENDPOINT.service]);
    for (const route of PROVISIONING_ROUTES) expect(serviceFor(samplePath(route.url)), route.url).toEqual([PROVISIONING_ENDPOINT.service]);
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
    // One Ingress per route class and one for the events API: none per tenant.
    expect(ingresses().filter((i) => i.spec.rule.every((r) => r.host === config.domains.api))).toHaveLength(Object.keys(GATEWAY_PATHS).length + 1);
  });
});
