/**
 * The isolation and rate-limit surface of every environment (stacks/diff/surface.ts), kept as one
 * snapshot file per environment beside this test (test/surface/<env>.txt): who may reach what and
 * how fast, one fact per line, so a change to isolation or a limit is a small diff a reviewer
 * reads. Update them with `npx vitest run test/surface.test.ts -u` and read the diff.
 *
 * The tier values of prod are written out here, not read back from config/tiers.ts: a wrong
 * number in the catalog itself fails this test.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadEnvironment, loadTierCatalog, type TierCatalog } from "../config/index.js";
import { addEnvironment } from "../stacks/app.js";
import { renderSurface, surfaceLineDiff, type SurfaceStack } from "../stacks/diff/surface.js";
import { synthAllEnvironments, synthApp, type SynthesizedStack } from "./support/synth.js";

function surfaceOf(env: string, stacks: Record<string, SynthesizedStack>): string {
  const mine: SurfaceStack[] = Object.values(stacks)
    .filter((s) => s.name.startsWith(`${env}-`))
    .map((s) => ({ name: s.name, json: s.json as SurfaceStack["json"] }));
  return renderSurface(env, mine);
}

/** A deep copy of a stack's JSON with one edit applied (what a one-line source change synthesizes to). */
function edited(stacks: Record<string, SynthesizedStack>, stack: string, edit: (json: Record<string, any>) => void): Record<string, SynthesizedStack> {
  const copy = structuredClone(stacks[stack]?.json) as Record<string, any>;
  edit(copy);
  return { ...stacks, [stack]: { ...(stacks[stack] as SynthesizedStack), json: copy } };
}

function manifestOf(json: Record<string, any>, match: (m: Record<string, any>) => boolean): Record<string, any> {
  const found = Object.values(json.resource.kubernetes_manifest as Record<string, { manifest: Record<string, any> }>).find((r) => match(r.manifest));
  if (!found) throw new Error("no such manifest in the synthesized stack");
  return found.manifest;
}

describe("isolation and rate-limit surface", () => {
  it.each(ENVIRONMENT_NAMES)("%s matches test/surface/%s.txt", async (env) => {
    const text = surfaceOf(env, synthAllEnvironments());
    await expect(text).toMatchFileSnapshot(`surface/${env}.txt`);
  });

  it("every environment's surface is a few hundred lines a person reads", () => {
    for (const env of ENVIRONMENT_NAMES) {
      const lines = readFileSync(new URL(`surface/${env}.txt`, import.meta.url), "utf8").split("\n").length;
      expect(lines, env).toBeGreaterThan(200);
      expect(lines, env).toBeLessThan(1_000);
    }
  });

  describe("prod's tiers, written out (a wrong catalog number fails here)", () => {
    const text = surfaceOf("prod", synthAllEnvironments());
    const has = (line: string) => expect(text.split("\n"), line).toContain(line);

    it("gateway rate limits and body caps per tier", () => {
      const expected = { free: [5, 100, 2_000, 256], pro: [50, 2_000, 60_000, 1_024], enterprise: [500, 20_000, 600_000, 8_192] };
      for (const [tier, [second, minute, hour, body]] of Object.entries(expected)) {
        has(`gateway plugin tenant-gate-tenant tier ${tier} second = ${second}`);
        has(`gateway plugin tenant-gate-tenant tier ${tier} minute = ${minute}`);
        has(`gateway plugin tenant-gate-tenant tier ${tier} hour = ${hour}`);
        has(`gateway plugin tenant-gate-tenant tier ${tier} max_body_kib = ${body}`);
      }
    });

    it("NATS tenant account limits and the user template per tier", () => {
      const expected = { free: [10, 100, 65_536], pro: [100, 1_000, 262_144], enterprise: [2_000, 20_000, 1_048_576] };
      for (const [tier, [conn, subs, payload]] of Object.entries(expected)) {
        has(`nats tier ${tier} tenant account limit conn = ${conn}`);
        has(`nats tier ${tier} tenant account limit subs = ${subs}`);
        has(`nats tier ${tier} tenant account limit payload = ${payload}`);
        has(`nats tier ${tier} tenant account limit disallow_bearer = true`);
        has(`nats tier ${tier} tenant account user(${tier}) pub allow swarm.{tenant}.>`);
        has(`nats tier ${tier} tenant account user(${tier}) sub allow swarm.{tenant}.>`);
        has(`nats tier ${tier} tenant account import tenant-events service swarm.{tenant}.*.events (activation token)`);
      }
      // A tenant's agents publish to their own tier's job lane only.
      has("nats tier free tenant account user(free) pub deny swarm.{tenant}.jobs.pro");
      has("nats tier free tenant account user(free) pub deny swarm.{tenant}.jobs.enterprise");
    });

    it("ClickHouse reader profiles and keyed quotas per tier", () => {
      const profile = { free: [2, 10, 10_000, 2, 536_870_912], pro: [4, 60, 1_000_000, 8, 4_294_967_296], enterprise: [16, 300, 10_000_000, 32, 17_179_869_184] };
      for (const [tier, [threads, seconds, rows, concurrent, memory]] of Object.entries(profile)) {
        has(`clickhouse profile reader_${tier}_settings/max_threads = ${threads}`);
        has(`clickhouse profile reader_${tier}_settings/constraints/max_threads/max = ${threads}`);
        has(`clickhouse profile reader_${tier}_settings/max_execution_time = ${seconds}`);
        has(`clickhouse profile reader_${tier}_settings/max_result_rows = ${rows}`);
        has(`clickhouse profile reader_${tier}_settings/max_concurrent_queries_for_user = ${concurrent}`);
        has(`clickhouse profile reader_${tier}_settings/max_memory_usage = ${memory}`);
        has(`clickhouse quota reader_${tier}_quota/keyed = 1`);
      }
      has("clickhouse quota reader_free_quota/interval/queries = 360");
      has("clickhouse quota reader_pro_quota/interval/queries = 3600");
      has("clickhouse quota reader_enterprise_quota/interval/queries = 36000");
      has("clickhouse sql CREATE ROW POLICY OR REPLACE tenant_bound_by_query ON enchanted.swarm_events AS PERMISSIVE FOR SELECT USING tenant_id = getSetting('log_comment') TO swarm_reader_free, swarm_reader_pro, swarm_reader_enterprise");
      has("clickhouse setting access_control_improvements/users_without_row_policies_can_read_rows = false");
    });

    it("worker pools: KEDA caps and namespace quotas per tier", () => {
      const caps = { free: [0, 2, 4], pro: [0, 20, 40], enterprise: [1, 200, 400] };
      for (const [tier, [min, max, pods]] of Object.entries(caps)) {
        has(`scaling keda workers-${tier}/workers replicas ${min}..${max}`);
        has(`quota workers-${tier}/tier-quota pods = ${pods}`);
      }
    });
  });

  describe("a one-line change is exactly one changed line", () => {
    const stacks = synthAllEnvironments();
    const before = surfaceOf("prod", stacks);

    it("opening a NetworkPolicy to every namespace adds exactly that rule's line", () => {
      const after = surfaceOf(
        "prod",
        edited(stacks, "prod-workloads", (json) => {
          const policies = json.resource.kubernetes_network_policy_v1 as Record<string, { metadata: { name: string; namespace: string }; spec: { ingress?: unknown[] } }>;
          const np = Object.values(policies).find((p) => p.metadata.namespace === "platform" && p.metadata.name === "provisioning");
          if (!np?.spec.ingress) throw new Error("prod-workloads has no ingress policy platform/provisioning");
          np.spec.ingress.push({ from: [{ namespace_selector: {} }], ports: [{ port: "8080", protocol: "TCP" }] });
        }),
      );
      const diff = surfaceLineDiff(before, after);
      expect(diff.removed).toEqual([]);
      expect(diff.added).toEqual([expect.stringMatching(/^netpol platform\/provisioning \[[^\]]+\] ingress from any namespace any pod : 8080\/TCP$/)]);
    });

    it("widening a tier's NATS publish permission adds exactly that permission's line", () => {
      const after = surfaceOf(
        "prod",
        edited(stacks, "prod-workloads", (json) => {
          const cm = manifestOf(json, (m) => m.kind === "ConfigMap" && typeof m.data?.["tenant-account-free.json"] === "string");
          const claims = JSON.parse(cm.data["tenant-account-free.json"]);
          claims.nats.signing_keys[0].template.pub.allow.push("swarm.>");
          cm.data["tenant-account-free.json"] = JSON.stringify(claims, null, 2);
        }),
      );
      const diff = surfaceLineDiff(before, after);
      expect(diff).toEqual({ removed: [], added: ["nats tier free tenant account user(free) pub allow swarm.>"] });
    });

    it("raising a tier's rate limit in the catalog changes exactly that limit's line", () => {
      const catalog = loadTierCatalog();
      const raised: TierCatalog = { ...catalog, pro: { ...catalog.pro, gateway: { ...catalog.pro.gateway, requestsPerMinute: catalog.pro.gateway.requestsPerMinute + 500 } } };
      const prod = loadEnvironment("prod");
      const after = surfaceOf("prod", synthApp((app) => addEnvironment(app, prod, raised)));
      const diff = surfaceLineDiff(before, after);
      expect(diff).toEqual({ removed: ["gateway plugin tenant-gate-tenant tier pro minute = 2000"], added: ["gateway plugin tenant-gate-tenant tier pro minute = 2500"] });
    });
  });
});
