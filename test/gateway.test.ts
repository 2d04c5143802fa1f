/**
 * The gateway as the real environment stacks synthesize it: every public route verified,
 * rate-limited and size-capped with the catalog's numbers, keyed by the verified tenant claim,
 * shared counters outside dev, and the NLB's 443 the only door open to the internet.
 */
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES } from "../config/index.js";
import { GATEWAY_LOAD_BALANCER_TAG } from "../constructs/policy/index.js";
import { API_AUDIENCE, issuerUrl, TENANT_CLAIM } from "../services/keycloak-realm/index.js";
import { stackName } from "../stacks/environment-stack.js";
import { resourcesOf, stackOf, synthAllEnvironments } from "./support/synth.js";

const tiers = loadTierCatalog();
type Manifest = { kind: string; plugin?: string; metadata: { name: string; labels?: Record<string, string> }; config?: Record<string, any> };

describe.each(ENVIRONMENT_NAMES)("%s gateway", (env) => {
  const config = loadEnvironment(env);
  const workloads = () => stackOf(env, "workloads");
  const plugins = () =>
    Object.values(resourcesOf(workloads(), "kubernetes_manifest"))
      .map((r) => r.manifest as Manifest)
      .filter((m) => m.kind === "KongClusterPlugin");

  it("applies token verification, the tenant gate, a size cap and a correlation id to every route (global plugins)", () => {
    const global = plugins().filter((p) => p.metadata.labels?.global === "true").map((p) => p.plugin);
    expect(global.sort()).toEqual(["correlation-id", "jwt", "request-size-limiting", "tenant-gate"]);
    const ingresses = Object.values(resourcesOf(workloads(), "kubernetes_ingress_v1"));
    expect(ingresses.length).toBeGreaterThan(0);
    for (const ingress of ingresses) {
      const annotations = ((ingress.metadata as { annotations?: Record<string, string> }).annotations ?? {}) as Record<string, string>;
      // No route opts out of a global plugin by naming a weaker one of its own.
      expect(annotations["konghq.com/plugins"] ?? "").toBe("");
      const paths = ((ingress.spec as { rule: { http: { path: { path: string }[] } }[] }).rule ?? []).flatMap((r) => r.http.path.map((p) => p.path));
      for (const path of paths) expect(path.startsWith("/v1/") || path === "/v1").toBe(true);
    }
  });

  it("keys limits by the verified tenant claim, with each tier's limits equal to the catalog", () => {
    const gate = plugins().find((p) => p.plugin === "tenant-gate")?.config ?? {};
    expect(gate).toMatchObject({ tenant_claim: TENANT_CLAIM, algorithms: ["RS256"], audience: API_AUDIENCE, issuer: issuerUrl(config.domains.auth) });
    expect(Object.keys(gate.tiers).sort()).toEqual([...PLAN_TIER_NAMES].sort());
    for (const tier of PLAN_TIER_NAMES) {
      const g = tiers[tier].gateway;
      expect(gate.tiers[tier]).toMatchObject({ second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB });
    }
    expect(gate.strip_headers).toContain("X-Tenant-Id");
  });

  it(`counts in ${env === "dev" ? "each pod (dev)" : "Redis over TLS with auth (shared by every Kong pod)"}`, () => {
    const gate = plugins().find((p) => p.plugin === "tenant-gate")?.config ?? {};
    expect(gate.policy).toBe(env === "dev" ? "local" : "redis");
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

  it("has one realm consumer and no per-tenant Kong object", () => {
    const kinds = Object.values(resourcesOf(workloads(), "kubernetes_manifest")).map((r) => (r.manifest as Manifest).kind);
    expect(kinds.filter((k) => k === "KongConsumer")).toHaveLength(1);
    expect(plugins()).toHaveLength(4);
  });
});
