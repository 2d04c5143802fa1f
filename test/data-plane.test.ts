/**
 * The plan-tier catalog is the one home of every limit: each tier's numbers must appear,
 * identical, in every layer that enforces them (NATS account claims, ClickHouse quotas and
 * settings profiles, Kubernetes ResourceQuotas, KEDA caps), follow a change of the catalog, and
 * nothing synthesized may grow with the number of pooled tenants or carry a secret.
 */
import { INGESTOR_NAME } from "../constructs/ingestor.js";
import { INGESTOR_DEFAULTS } from "../services/ingestor/contract.js";
import { CLICKHOUSE_USERS, readerUserName, tierProfileName, tierQuotaName } from "../services/clickhouse-schema/index.js";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, loadTierCatalog, PLAN_TIER_NAMES, type PlanTierName, type TierCatalog } from "../config/index.js";
import { workerNamespace } from "../constructs/worker-pools.js";
import { addAllEnvironments, loadEnvironments } from "../stacks/app.js";
import { STACK_KINDS, stackName } from "../stacks/environment-stack.js";
import { helmValuesOf, resourcesOf, synthAllEnvironments, synthApp, type SynthesizedStack } from "./support/synth.js";

const catalog = loadTierCatalog();
const MiB = 1024 * 1024;

/** Every limit a synthesized environment carries for one tier, read back from the JSON. */
interface LayerLimits {
  nats: { conn: number; subs: number; payload: number; templateSubs: number; templatePayload: number };
  clickhouseQuota: { intervalSeconds: number; queries: number; resultRows: number; readRows: number; executionTimeSeconds: number };
  clickhouseProfile: { maxMemoryUsageMiB: number; maxExecutionTimeSeconds: number; maxThreads: number; maxResultRows: number; maxConcurrentQueries: number };
  resourceQuota: Record<string, string>;
  keda: { minReplicaCount: number; maxReplicaCount: number; lagThreshold: string };
}

function manifests(stack: SynthesizedStack): Record<string, any>[] {
  return Object.values(resourcesOf(stack, "kubernetes_manifest")).map((m) => m.manifest as Record<string, any>);
}

function limitsOf(stacks: Record<string, SynthesizedStack>, env: string, tier: PlanTierName): LayerLimits {
  const workloads = stacks[stackName(env, "workloads")] as SynthesizedStack;
  const platform = stacks[stackName(env, "platform")] as SynthesizedStack;

  const claims = manifests(workloads).find((m) => m.kind === "ConfigMap" && m.metadata.name === "nats-account-claims");
  // What provisioning signs for every tenant of the tier (tenant accounts are data; the ConfigMap shows their claims).
  const account = JSON.parse(claims?.data[`tenant-account-${tier}.json`]) as { nats: { limits: { conn: number; subs: number; payload: number }; signing_keys: { role: string; template: { subs: number; payload: number } }[] } };
  const key = account.nats.signing_keys.find((k) => k.role === tier);

  // The tier's reader in the ClickHouse installation's configuration: its settings profile and its keyed quota.
  const chi = manifests(workloads).find((m) => m.kind === "ClickHouseInstallation");
  const profiles = (chi?.spec.configuration.profiles ?? {}) as Record<string, string>;
  const quotas = (chi?.spec.configuration.quotas ?? {}) as Record<string, string>;
  const setting = (name: string) => Number(profiles[`${tierProfileName(tier)}/${name}`]);
  const limit = (name: string) => Number(quotas[`${tierQuotaName(tier)}/interval/${name}`]);
  const users = (chi?.spec.configuration.users ?? {}) as Record<string, string>;
  expect(users[`${readerUserName(tier)}/profile`]).toBe(tierProfileName(tier));
  expect(users[`${readerUserName(tier)}/quota`]).toBe(tierQuotaName(tier));

  const rq = Object.values(resourcesOf(platform, "kubernetes_resource_quota_v1")).find((q) => (q.metadata as { namespace: string }).namespace === workerNamespace(tier));
  const scaled = manifests(workloads).find((m) => m.kind === "ScaledObject" && m.metadata.namespace === workerNamespace(tier));

  return {
    nats: { conn: account.nats.limits.conn, subs: account.nats.limits.subs, payload: account.nats.limits.payload, templateSubs: Number(key?.template.subs), templatePayload: Number(key?.template.payload) },
    clickhouseQuota: {
      intervalSeconds: limit("duration"),
      queries: limit("queries"),
      resultRows: limit("result_rows"),
      readRows: limit("read_rows"),
      executionTimeSeconds: limit("execution_time"),
    },
    clickhouseProfile: {
      maxMemoryUsageMiB: setting("max_memory_usage") / MiB,
      maxExecutionTimeSeconds: setting("max_execution_time"),
      maxThreads: setting("max_threads"),
      maxResultRows: setting("max_result_rows"),
      maxConcurrentQueries: setting("max_concurrent_queries_for_user"),
    },
    resourceQuota: (rq?.spec as { hard: Record<string, string> }).hard,
    keda: { minReplicaCount: scaled?.spec.minReplicaCount, maxReplicaCount: scaled?.spec.maxReplicaCount, lagThreshold: scaled?.spec.triggers[0].metadata.lagThreshold },
  };
}

/** What every layer must carry for `tier`, derived from the catalog alone. */
function expectedFrom(tiers: TierCatalog, tier: PlanTierName): LayerLimits {
  const t = tiers[tier];
  const q = t.workers.quota;
  return {
    nats: { conn: t.bus.connections, subs: t.bus.subscriptions, payload: t.bus.maxPayloadBytes, templateSubs: t.bus.subscriptions, templatePayload: t.bus.maxPayloadBytes },
    clickhouseQuota: { ...t.clickhouse.quota },
    clickhouseProfile: { ...t.clickhouse.profile },
    resourceQuota: {
      pods: String(q.pods),
      "requests.cpu": `${q.requestsCpuMillicores}m`,
      "requests.memory": `${q.requestsMemoryMiB}Mi`,
      "limits.cpu": `${q.limitsCpuMillicores}m`,
      "limits.memory": `${q.limitsMemoryMiB}Mi`,
    },
    keda: { minReplicaCount: t.workers.scaling.minReplicaCount, maxReplicaCount: t.workers.scaling.maxReplicaCount, lagThreshold: String(t.workers.scaling.lagThreshold) },
  };
}

describe.each(ENVIRONMENT_NAMES)("%s: every tier's limits in every layer", (env) => {
  it.each(PLAN_TIER_NAMES)("%s: NATS template, ClickHouse quota and profile, ResourceQuota and KEDA caps equal the catalog", (tier) => {
    expect(limitsOf(synthAllEnvironments(), env, tier)).toEqual(expectedFrom(catalog, tier));
  });
});

describe("a changed catalog number", () => {
  it("reaches every layer, and only the changed tier", () => {
    const changed = structuredClone(catalog) as { -readonly [K in PlanTierName]: any };
    changed.pro.bus.subscriptions += 7;
    changed.pro.bus.maxPayloadBytes = 512 * 1024;
    changed.pro.clickhouse.quota.queries += 11;
    changed.pro.clickhouse.profile.maxThreads += 1;
    changed.pro.workers.quota.pods += 5;
    changed.pro.workers.scaling.maxReplicaCount += 3;
    const stacks = synthApp((app) => addAllEnvironments(app, loadEnvironments(["staging"]), changed as TierCatalog));
    const after = limitsOf(stacks, "staging", "pro");
    expect(after).toEqual(expectedFrom(changed as TierCatalog, "pro"));
    expect(after.nats.subs).toBe(catalog.pro.bus.subscriptions + 7);
    expect(after.clickhouseQuota.queries).toBe(catalog.pro.clickhouse.quota.queries + 11);
    expect(after.resourceQuota.pods).toBe(String(catalog.pro.workers.quota.pods + 5));
    expect(after.keda.maxReplicaCount).toBe(catalog.pro.workers.scaling.maxReplicaCount + 3);
    for (const tier of ["free", "enterprise"] as const) expect(limitsOf(stacks, "staging", tier)).toEqual(expectedFrom(catalog, tier));
  });
});

describe("infrastructure is O(tiers)", () => {
  it("has exactly one tier-scoped object per tier in every layer, and none per pooled tenant", () => {
    for (const env of ENVIRONMENT_NAMES) {
      const stacks = synthAllEnvironments();
      const workloads = stacks[stackName(env, "workloads")] as SynthesizedStack;
      const platform = stacks[stackName(env, "platform")] as SynthesizedStack;
      const kinds = manifests(workloads).map((m) => m.kind as string);
      // One per tier for the worker pools, plus the ingestor's (one per environment, not per tenant).
      const scaled = manifests(workloads).filter((m) => m.kind === "ScaledObject").map((m) => m.metadata.name);
      expect(scaled.filter((n) => n !== INGESTOR_NAME)).toHaveLength(PLAN_TIER_NAMES.length);
      expect(scaled).toContain(INGESTOR_NAME);
      // The same for the NACK Consumers: one per tier, plus the ingestor's durable consumer.
      const consumers = manifests(workloads).filter((m) => m.kind === "Consumer").map((m) => m.spec.durableName);
      expect(consumers.filter((n) => n !== INGESTOR_DEFAULTS.consumer)).toHaveLength(PLAN_TIER_NAMES.length);
      expect(kinds.filter((k) => k === "Consumer")).toHaveLength(PLAN_TIER_NAMES.length + 1);
      expect(consumers).toContain(INGESTOR_DEFAULTS.consumer);
      expect(Object.keys(resourcesOf(platform, "kubernetes_resource_quota_v1"))).toHaveLength(PLAN_TIER_NAMES.length);
      // ClickHouse: one reader, one settings profile and one keyed quota per tier (configuration),
      // beside the platform's own users; the migration creates no user, role, profile or quota.
      const chi = manifests(workloads).find((m) => m.kind === "ClickHouseInstallation");
      const heads = (section: Record<string, unknown>) => [...new Set(Object.keys(section).map((k) => k.split("/")[0]))].sort();
      expect(heads(chi?.spec.configuration.users)).toEqual([...Object.values(CLICKHOUSE_USERS), ...PLAN_TIER_NAMES.map(readerUserName)].sort());
      expect(heads(chi?.spec.configuration.profiles)).toEqual(PLAN_TIER_NAMES.map(tierProfileName).sort());
      expect(heads(chi?.spec.configuration.quotas)).toEqual(PLAN_TIER_NAMES.map(tierQuotaName).sort());
      const sql = JSON.stringify(resourcesOf(workloads, "kubernetes_config_map_v1"));
      expect(sql.match(/CREATE (USER|ROLE|QUOTA|SETTINGS PROFILE)/g) ?? []).toEqual([]);
      const claims = manifests(workloads).find((m) => m.kind === "ConfigMap" && m.metadata.name === "nats-account-claims");
      // The platform and system accounts, and one tenant-account template per tier: every tenant's
      // own account is data that provisioning signs; only silo tenants named in config are synthesized.
      expect(Object.keys(claims?.data ?? {}).sort()).toEqual(["account-SWARM.json", "account-SYS.json", "operator.json", ...PLAN_TIER_NAMES.map((t) => `tenant-account-${t}.json`)].sort());
    }
  });

  it("synthesizes the same bytes however many tenants exist (tenants are data: none is an input)", () => {
    const before = synthApp((app) => addAllEnvironments(app, loadEnvironments(["prod"])));
    // Provisioning 1,000 tenants creates users and credentials at run time, never IaC objects:
    // the app has no tenant input, so a second synth must be byte-identical.
    const after = synthApp((app) => addAllEnvironments(app, loadEnvironments(["prod"])));
    for (const kind of STACK_KINDS) expect(after[stackName("prod", kind)]?.text).toBe(before[stackName("prod", kind)]?.text);
  });
});

describe("secrets never reach synthesized Terraform", () => {
  const NKEY_SEED = /\bS[OAUNCPX][A-Z2-7]{50,}\b/;
  const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

  it.each(ENVIRONMENT_NAMES.flatMap((env) => STACK_KINDS.map((kind) => stackName(env, kind))))("%s holds no nkey seed, private key or password", (name) => {
    const stack = synthAllEnvironments()[name] as SynthesizedStack;
    expect(stack.text).not.toMatch(NKEY_SEED);
    expect(stack.text).not.toMatch(PRIVATE_KEY);
    // A secret version may only take its value from a reference (e.g. a random password data
    // source), never from a literal in the synthesized JSON.
    for (const v of Object.values(resourcesOf(stack, "aws_secretsmanager_secret_version"))) expect(String(v.secret_string)).toMatch(/^\$\{data\./);
    // Any field named like a password must be a reference (a Secret key, an env var from a
    // secretKeyRef, a Terraform expression), never a literal value.
    const offenders: string[] = [];
    let passwordFields = 0;
    const walk = (value: unknown, path: string): void => {
      if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
      else if (value && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) {
          if (/pass(word)?$|^password|secret_?value|seed$|token$/i.test(k)) passwordFields++;
          if (/pass(word)?$|^password|secret_?value|seed$|token$/i.test(k) && typeof v === "string" && v !== "" && !/^\$\{/.test(v) && !/^[a-z0-9-]+\/[a-z0-9-]+\/[a-zA-Z0-9_.-]+$/.test(v)) {
            offenders.push(`${path}.${k} = ${v.slice(0, 20)}`);
          }
          walk(v, `${path}.${k}`);
        }
      }
    };
    walk(stack.json, name);
    expect(offenders).toEqual([]);
    // The workloads stack does declare ClickHouse users' passwords: as Secret references.
    if (name.endsWith("-workloads")) expect(passwordFields).toBeGreaterThan(0);
  });
});

describe.each(ENVIRONMENT_NAMES)("%s: the data stores run on the data pool", (env) => {
  const config = loadEnvironments([env])[0]!;
  const dataPool = config.eks.nodeGroups.find((g) => g.name === "data");
  const workloads = () => synthAllEnvironments()[stackName(env, "workloads")] as SynthesizedStack;
  const natsValues = () => helmValuesOf(workloads(), "nats");
  const podSpecs = (): Record<string, Record<string, any>> => {
    const specs: Record<string, Record<string, any>> = {};
    for (const m of manifests(workloads())) {
      if (m.kind !== "ClickHouseInstallation" && m.kind !== "ClickHouseKeeperInstallation") continue;
      for (const t of m.spec.templates.podTemplates) specs[`${m.kind}/${t.name}`] = t.spec;
    }
    specs["nats"] = natsValues().podTemplate.merge.spec;
    return specs;
  };

  it("selects the pool's labels and tolerates its taints (no pool, no placement)", () => {
    const specs = podSpecs();
    expect(Object.keys(specs).sort()).toEqual(["ClickHouseInstallation/clickhouse", "ClickHouseKeeperInstallation/keeper", "nats"]);
    for (const [name, spec] of Object.entries(specs)) {
      if (!dataPool) {
        expect({ name, nodeSelector: spec.nodeSelector, tolerations: spec.tolerations }).toEqual({ name, nodeSelector: undefined, tolerations: undefined });
        continue;
      }
      expect({ name, nodeSelector: spec.nodeSelector }).toEqual({ name, nodeSelector: Object.fromEntries((dataPool.labels ?? []).map((l) => [l.key, l.value])) });
      const effects = { NO_SCHEDULE: "NoSchedule", NO_EXECUTE: "NoExecute", PREFER_NO_SCHEDULE: "PreferNoSchedule" } as const;
      expect({ name, tolerations: spec.tolerations }).toEqual({ name, tolerations: (dataPool.taints ?? []).map((t) => ({ key: t.key, operator: "Equal", value: t.value, effect: effects[t.effect] })) });
      // A taint the pods tolerate on a pool they do not select would let them land anywhere.
      expect(Object.keys(spec.nodeSelector).length).toBeGreaterThan(0);
    }
  });

  it("tolerates no other pool's taint", () => {
    const others = config.eks.nodeGroups.filter((g) => g.name !== "data").flatMap((g) => (g.taints ?? []).map((t) => `${t.key}=${t.value}`));
    for (const spec of Object.values(podSpecs())) {
      for (const t of (spec.tolerations ?? []) as { key: string; value: string }[]) expect(others).not.toContain(`${t.key}=${t.value}`);
    }
  });
});
