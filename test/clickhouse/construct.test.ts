/**
 * The ClickHouse constructs, synthesized: the operator chart's values, the Keeper and ClickHouse
 * installations sized from each environment's config, the migration Job, and the rule that no
 * password ever appears in a synthesized value.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TerraformStack, Testing } from "cdktf";
import type { Construct } from "constructs";
import { describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, HELM_CHARTS, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, validateTierCatalog, type EnvironmentName, type TierCatalog } from "../../config/index.js";
import {
  ClickHouse,
  clickhouseAccessConfiguration,
  clickhouseInstallationManifest,
  clickhouseManagedSecrets,
  clickhouseSecrets,
  clickhouseMigrationSql,
  ClickHouseOperator,
  clickhouseOperatorChartValues,
  keeperInstallationManifest,
  resolveClickHouseProps,
  type ClickHouseProps,
} from "../../constructs/clickhouse/index.js";
import { ENCRYPTED_STORAGE_CLASS, NAMESPACES, POLICY_LABELS, type ISecretStore } from "../../constructs/platform-interfaces.js";
import {
  CLICKHOUSE_USERS,
  grantQueries,
  ingestorPrivileges,
  lifecyclePrivileges,
  migrationSql,
  readerUserName,
  readerUsersConfig,
  sqlScript,
  tierProfileName,
  tierQuotaName,
} from "../../services/clickhouse-schema/index.js";

const tiers = loadTierCatalog();
const store: ISecretStore = { storeName: "aws-secrets-manager", storeKind: "ClusterSecretStore" };
type Json = Record<string, unknown>;
type Resources = Record<string, Record<string, Json>>;

function propsFor(env: EnvironmentName): ClickHouseProps {
  return { ...loadEnvironment(env).clickhouse, tiers, secretStore: store };
}

/** One stack's resources, synthesized in memory (the app's output directory is removed again). */
function synth(build: (scope: Construct) => void): Resources {
  const outdir = mkdtempSync(join(tmpdir(), "enchanted-clickhouse-synth-"));
  try {
    const stack = new TerraformStack(Testing.app({ outdir }), "stack");
    build(stack);
    return (JSON.parse(Testing.synth(stack)) as { resource: Resources }).resource;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function synthEnv(env: EnvironmentName, extra: Partial<ClickHouseProps> = {}): Resources {
  return synth((scope) => {
    new ClickHouseOperator(scope, "operator", { version: loadEnvironment(env).charts.clickhouseOperator });
    new ClickHouse(scope, "clickhouse", { ...propsFor(env), ...extra });
  });
}

function manifests(resources: Resources, kind: string): Json[] {
  return Object.values(resources.kubernetes_manifest ?? {})
    .map((r) => r.manifest as Json)
    .filter((m) => m.kind === kind);
}

function get(value: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

/** Every string under a key that names a password, anywhere in a document (JSON strings inside are parsed too). */
function passwordLiterals(node: unknown, path = ""): string[] {
  if (typeof node === "string") {
    const trimmed = node.trim();
    if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
      try {
        return passwordLiterals(JSON.parse(trimmed), path);
      } catch {
        return [];
      }
    }
    return [];
  }
  if (Array.isArray(node)) {
    return node.flatMap((v, i) => {
      // A command-line password must be a reference to an environment variable.
      if (node[i - 1] === "--password" && typeof v === "string" && !/^\$\([A-Z_]+\)$/.test(v)) return [`${path}[${i}]`];
      return passwordLiterals(v, `${path}[${i}]`);
    });
  }
  if (node && typeof node === "object") {
    return Object.entries(node).flatMap(([k, v]) => {
      const p = `${path}.${k}`;
      if (/pass(word)?|secret_value|sha256_hex/i.test(k) && (typeof v === "string" || typeof v === "number")) return [p];
      return passwordLiterals(v, p);
    });
  }
  return [];
}

describe("the password check", () => {
  it("finds a literal password, a literal hash and a literal on a command line", () => {
    expect(
      passwordLiterals({
        users: { "admin/password": "hunter2", "ingestor/password_sha256_hex": "5e88", "reader/password": { valueFrom: { secretKeyRef: { name: "s", key: "k" } } } },
        values: [JSON.stringify({ secret: { password: "clickhouse_operator_password" } })],
        args: ["--password", "hunter2", "--password", "$(CLICKHOUSE_PASSWORD)"],
      }),
    ).toEqual([".users.admin/password", ".users.ingestor/password_sha256_hex", ".values[0].secret.password", ".args[1]"]);
  });
});

describe("the ClickHouse operator", () => {
  it("pins the chart from HELM_CHARTS and installs it into the ClickHouse namespace", () => {
    const [release] = Object.values(synth((scope) => new ClickHouseOperator(scope, "operator")).helm_release ?? {});
    expect(release).toMatchObject({
      chart: HELM_CHARTS.clickhouseOperator.chart,
      repository: HELM_CHARTS.clickhouseOperator.repository,
      version: HELM_CHARTS.clickhouseOperator.version,
      namespace: NAMESPACES.clickhouse,
      create_namespace: false,
    });
    expect(JSON.parse((release?.values as string[])[0] ?? "{}")).toEqual(clickhouseOperatorChartValues());
  });

  it("takes its credentials from a Secret, not from the chart's default password, and watches one namespace", () => {
    const values = clickhouseOperatorChartValues();
    expect(get(values, "secret.create")).toBe(false);
    expect(get(values, "configs.files")).toEqual({
      "config.yaml": {
        watch: { namespaces: [NAMESPACES.clickhouse] },
        clickhouse: { access: { secret: { namespace: NAMESPACES.clickhouse, name: "clickhouse-operator-credentials" } } },
      },
    });
  });

  it("runs as a numeric non-root user without the CRD hook that Pod Security restricted would refuse", () => {
    const values = clickhouseOperatorChartValues();
    expect(get(values, "crdHook.enabled")).toBe(false);
    expect(get(values, "podSecurityContext")).toMatchObject({ runAsNonRoot: true, runAsUser: 65534, seccompProfile: { type: "RuntimeDefault" } });
    for (const c of ["operator", "metrics"]) {
      expect(get(values, `${c}.containerSecurityContext`)).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    }
  });
});

describe.each(ENVIRONMENT_NAMES)("%s ClickHouse", (env) => {
  const config = loadEnvironment(env).clickhouse;
  const resources = synthEnv(env);
  const [chi] = manifests(resources, "ClickHouseInstallation");
  const [chk] = manifests(resources, "ClickHouseKeeperInstallation");

  it("has shards x replicas from config, each server on an encrypted volume of storageGiB", () => {
    expect(get(chi, "spec.configuration.clusters")).toEqual([
      expect.objectContaining({ layout: { shardsCount: config.shards, replicasCount: config.replicas }, secret: { auto: "true" } }),
    ]);
    expect(get(chi, "spec.templates.volumeClaimTemplates")).toEqual([
      {
        name: "data",
        reclaimPolicy: "Retain",
        spec: { storageClassName: ENCRYPTED_STORAGE_CLASS, accessModes: ["ReadWriteOnce"], resources: { requests: { storage: `${config.storageGiB}Gi` } } },
      },
    ]);
  });

  it("has a Keeper quorum of keeperReplicas on encrypted volumes, which the servers use", () => {
    expect(get(chk, "spec.configuration.clusters")).toEqual([expect.objectContaining({ layout: { replicasCount: config.keeperReplicas } })]);
    expect(get(chk, "spec.templates.volumeClaimTemplates")).toEqual([
      expect.objectContaining({ spec: expect.objectContaining({ storageClassName: ENCRYPTED_STORAGE_CLASS, resources: { requests: { storage: `${config.keeperStorageGiB}Gi` } } }) }),
    ]);
    expect(get(chi, "spec.configuration.zookeeper")).toEqual({ nodes: [{ host: "keeper-events.clickhouse.svc.cluster.local", port: 2181 }] });
  });

  it("migrates with the environment's TTL", () => {
    const [schema] = Object.values(resources.kubernetes_config_map_v1 ?? {});
    expect(get(schema, "data")).toEqual({ "migration.sql": sqlScript(migrationSql(tiers, { eventTtlDays: config.eventTtlDays, replicated: true })) });
    // A row without its own retention (0) is kept the environment's TTL.
    expect(JSON.stringify(schema)).toContain(`toIntervalDay(if(retention_days = 0, ${config.eventTtlDays}, retention_days)) DELETE`);
  });

  it("puts no password in any synthesized value", () => {
    expect(passwordLiterals(resources)).toEqual([]);
    const text = JSON.stringify(resources);
    expect(text).not.toContain("clickhouse_operator_password");
    expect(text).not.toMatch(/IDENTIFIED|password_sha256_hex|password_double_sha1_hex/);
  });
});

describe("the ClickHouse installation", () => {
  const r = resolveClickHouseProps(propsFor("prod"));
  const chi = clickhouseInstallationManifest(r);
  const pod = get(chi, "spec.templates.podTemplates") as Json[];

  it("reads the admin's and the ingestor's passwords from Kubernetes Secrets", () => {
    const users = get(chi, "spec.configuration.users") as Json;
    expect(users["platform_admin/password"]).toEqual({ valueFrom: { secretKeyRef: { name: "clickhouse-admin", key: "password" } } });
    expect(users["swarm_ingestor/password"]).toEqual({ valueFrom: { secretKeyRef: { name: "clickhouse-ingestor", key: "password" } } });
  });

  it("grants the ingestor exactly its privileges: INSERT of events and usage, SELECT of usage and plans, no ALTER and no access management", () => {
    const users = get(chi, "spec.configuration.users") as Json;
    expect(users["swarm_ingestor/grants/query"]).toEqual(grantQueries(ingestorPrivileges({ replicated: true })));
    expect(users["swarm_ingestor/grants/query"]).toEqual(
      expect.arrayContaining(["GRANT INSERT ON enchanted.swarm_events", "GRANT INSERT ON enchanted.swarm_events_local", "GRANT INSERT ON enchanted.tenant_usage_daily", "GRANT SELECT ON enchanted.tenant_plans"]),
    );
    for (const grant of users["swarm_ingestor/grants/query"] as string[]) {
      expect(grant).not.toMatch(/ALTER|DROP|SELECT ON enchanted\.swarm_events/);
    }
    expect(Object.keys(users).filter((k) => k.startsWith("swarm_ingestor/access_management"))).toEqual([]);
  });

  it("has the lifecycle user with exactly its privileges (plans, deletes of a tenant's rows), its password from a Secret", () => {
    const users = get(chi, "spec.configuration.users") as Json;
    expect(users[`${CLICKHOUSE_USERS.lifecycle}/password`]).toEqual({ valueFrom: { secretKeyRef: { name: "clickhouse-lifecycle", key: "password" } } });
    expect(users[`${CLICKHOUSE_USERS.lifecycle}/grants/query`]).toEqual(grantQueries(lifecyclePrivileges({ replicated: true })));
    expect(users[`${CLICKHOUSE_USERS.lifecycle}/grants/query`]).toContain("GRANT ALTER DELETE ON enchanted.swarm_events_local");
    expect(users[`${CLICKHOUSE_USERS.lifecycle}/networks/ip`]).toEqual(r.clientCidrs);
  });

  it("has one reader per tier, and no other user: no user (and no profile or quota) per tenant", () => {
    const users = get(chi, "spec.configuration.users") as Json;
    const names = [...new Set(Object.keys(users).map((k) => k.split("/")[0]))].sort();
    expect(names).toEqual([...Object.values(CLICKHOUSE_USERS), ...PLAN_TIER_NAMES.map(readerUserName)].sort());
    expect([...new Set(Object.keys(get(chi, "spec.configuration.profiles") as Json).map((k) => k.split("/")[0]))].sort()).toEqual(PLAN_TIER_NAMES.map(tierProfileName).sort());
    expect([...new Set(Object.keys(get(chi, "spec.configuration.quotas") as Json).map((k) => k.split("/")[0]))].sort()).toEqual(PLAN_TIER_NAMES.map(tierQuotaName).sort());
    for (const tier of PLAN_TIER_NAMES) {
      const reader = readerUserName(tier);
      expect(users[`${reader}/password`]).toEqual({ valueFrom: { secretKeyRef: { name: `clickhouse-reader-${tier}`, key: "password" } } });
      expect(users[`${reader}/networks/ip`]).toEqual(r.clientCidrs);
      expect(users[`${reader}/profile`]).toBe(tierProfileName(tier));
      expect(users[`${reader}/quota`]).toBe(tierQuotaName(tier));
      // Reads of the event and usage tables (rows filtered by the bound policy), nothing else.
      expect(users[`${reader}/grants/query`]).toEqual([
        "GRANT SELECT ON enchanted.swarm_events",
        "GRANT SELECT ON enchanted.swarm_events_local",
        "GRANT SELECT ON enchanted.tenant_usage_daily",
        "GRANT SELECT ON enchanted.tenant_usage_daily_local",
      ]);
      expect(Object.keys(users).filter((k) => k.startsWith(`${reader}/access_management`))).toEqual([]);
    }
  });

  it("keeps SQL-created users, roles, profiles, quotas and policies in Keeper, so every replica has them", () => {
    const files = get(chi, "spec.configuration.files") as Record<string, string>;
    const xml = files["config.d/enchanted-user-directories.xml"] ?? "";
    expect(xml).toContain('<user_directories replace="replace">');
    expect(xml).toContain("<replicated><zookeeper_path>/clickhouse/access/</zookeeper_path></replicated>");
    expect(xml).not.toContain("local_directory");
    expect(get(chi, "spec.configuration.settings")).toMatchObject({ "access_control_improvements/users_without_row_policies_can_read_rows": "false" });
  });

  it("keeps a shard's replicas on different nodes and spreads them over zones, as a non-root user", () => {
    expect(pod[0]).toMatchObject({
      podDistribution: [{ type: "ShardAntiAffinity", topologyKey: "kubernetes.io/hostname" }],
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 101, fsGroup: 101, seccompProfile: { type: "RuntimeDefault" } },
        topologySpreadConstraints: [
          expect.objectContaining({ topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule", matchLabelKeys: ["clickhouse.altinity.com/shard"] }),
        ],
        containers: [expect.objectContaining({ securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } } })],
      },
    });
    const keeperPod = (get(keeperInstallationManifest(r), "spec.templates.podTemplates") as Json[])[0];
    expect(get(keeperPod, "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution")).toEqual([
      { labelSelector: { matchLabels: { "clickhouse-keeper.altinity.com/chk": "events" } }, topologyKey: "kubernetes.io/hostname" },
    ]);
  });
});

/** A tier's profile and quota read back from the installation's configuration, in the catalog's terms. */
function tierLimitsOf(chi: Json, tier: (typeof PLAN_TIER_NAMES)[number]) {
  const profiles = get(chi, "spec.configuration.profiles") as Record<string, string>;
  const quotas = get(chi, "spec.configuration.quotas") as Record<string, string>;
  const p = (name: string) => profiles[`${tierProfileName(tier)}/${name}`];
  const max = (name: string) => profiles[`${tierProfileName(tier)}/constraints/${name}/max`];
  const q = (name: string) => Number(quotas[`${tierQuotaName(tier)}/interval/${name}`]);
  const MiB = 1024 * 1024;
  return {
    profile: {
      maxMemoryUsageMiB: Number(p("max_memory_usage")) / MiB,
      maxExecutionTimeSeconds: Number(p("max_execution_time")),
      maxThreads: Number(p("max_threads")),
      maxResultRows: Number(p("max_result_rows")),
      maxConcurrentQueries: Number(p("max_concurrent_queries_for_user")),
    },
    // Every MAX constraint is the setting's own value: a query may lower a limit, never raise it.
    bounds: {
      maxMemoryUsageMiB: Number(max("max_memory_usage")) / MiB,
      maxExecutionTimeSeconds: Number(max("max_execution_time")),
      maxThreads: Number(max("max_threads")),
      maxResultRows: Number(max("max_result_rows")),
      maxConcurrentQueries: Number(max("max_concurrent_queries_for_user")),
    },
    quota: { intervalSeconds: q("duration"), queries: q("queries"), resultRows: q("result_rows"), readRows: q("read_rows"), executionTimeSeconds: q("execution_time") },
    keyed: quotas[`${tierQuotaName(tier)}/keyed`],
    fixed: { final: p("final"), finalConst: profiles[`${tierProfileName(tier)}/constraints/final/const`], readonly: p("readonly"), overflow: p("result_overflow_mode") },
  };
}

function expectedLimits(catalog: TierCatalog, tier: (typeof PLAN_TIER_NAMES)[number]) {
  const t = catalog[tier].clickhouse;
  return { profile: { ...t.profile }, bounds: { ...t.profile }, quota: { ...t.quota }, keyed: "1", fixed: { final: "1", finalConst: "1", readonly: "2", overflow: "throw" } };
}

describe.each(ENVIRONMENT_NAMES)("%s ClickHouse readers", (env) => {
  const [chi] = manifests(synthEnv(env), "ClickHouseInstallation");

  it.each(PLAN_TIER_NAMES)("%s: the reader's settings profile, its constraints and its keyed quota carry the catalog's numbers", (tier) => {
    expect(tierLimitsOf(chi as Json, tier)).toEqual(expectedLimits(tiers, tier));
  });
});

describe("the readers' configuration", () => {
  it("is readerUsersConfig, setting by setting, constraint by constraint (the embedded engine is configured from the same function)", () => {
    const access = clickhouseAccessConfiguration(resolveClickHouseProps(propsFor("staging")));
    const expected: Record<string, string> = {};
    const quotas: Record<string, string> = {};
    for (const reader of readerUsersConfig(tiers, { replicated: true })) {
      for (const s of reader.settings) {
        expected[`${reader.profile}/${s.name}`] = String(s.value);
        if (s.constraint === "CONST") expected[`${reader.profile}/constraints/${s.name}/const`] = "1";
        if (s.constraint === "MAX") expected[`${reader.profile}/constraints/${s.name}/max`] = String(s.value);
      }
      quotas[`${reader.quotaName}/keyed`] = "1";
      quotas[`${reader.quotaName}/interval/duration`] = String(reader.quota.intervalSeconds);
      for (const l of reader.quota.limits) quotas[`${reader.quotaName}/interval/${l.resource}`] = String(l.max);
      expect(access.users[`${reader.user}/grants/query`]).toEqual(reader.grants);
    }
    expect(access.profiles).toEqual(expected);
    expect(access.quotas).toEqual(quotas);
  });

  it("follows a changed catalog number into the changed tier's profile and quota only", () => {
    const raw = structuredClone(tiers) as unknown as { pro: { clickhouse: { quota: { readRows: number }; profile: { maxThreads: number } } } };
    raw.pro.clickhouse.quota.readRows += 13;
    raw.pro.clickhouse.profile.maxThreads += 1;
    const changed = validateTierCatalog(raw);
    const [chi] = manifests(synthEnv("staging", { tiers: changed }), "ClickHouseInstallation");
    expect(tierLimitsOf(chi as Json, "pro")).toEqual(expectedLimits(changed, "pro"));
    expect(tierLimitsOf(chi as Json, "pro").quota.readRows).toBe(tiers.pro.clickhouse.quota.readRows + 13);
    for (const tier of ["free", "enterprise"] as const) expect(tierLimitsOf(chi as Json, tier)).toEqual(expectedLimits(tiers, tier));
  });
});

describe("the ClickHouse construct", () => {
  const resources = synthEnv("prod");
  const jobOf = (r: typeof resources) => Object.values(r.kubernetes_manifest ?? {}).find((m) => get(m, "manifest.kind") === "Job") as Json;
  const jobResource = jobOf(resources);
  const job = get(jobResource, "manifest") as Json;

  it("syncs the passwords from under secretPrefix through the given store, the ingestor's into its namespace, and every configuration user's (workers, lifecycle, the tiers' readers)", () => {
    const secrets = manifests(resources, "ExternalSecret");
    const prefix = loadEnvironment("prod").clickhouse.secretPrefix;
    expect(secrets.map((s) => `${get(s, "metadata.namespace")}/${get(s, "metadata.name")}`).sort()).toEqual(
      [
        "clickhouse/clickhouse-admin",
        "clickhouse/clickhouse-ingestor",
        "clickhouse/clickhouse-workers",
        "clickhouse/clickhouse-lifecycle",
        ...PLAN_TIER_NAMES.map((t) => `clickhouse/clickhouse-reader-${t}`),
        "clickhouse/clickhouse-operator-credentials",
        `${NAMESPACES.platform}/clickhouse-ingestor`,
      ].sort(),
    );
    // Each synced Secret is the one its user's password is read from, and every Secrets Manager secret is a managed one.
    const managed = clickhouseManagedSecrets(prefix).map((m) => m.remoteKey);
    for (const s of secrets) for (const d of get(s, "spec.data") as Json[]) expect(managed).toContain(get(d, "remoteRef.key"));
    expect(secrets.find((s) => get(s, "metadata.name") === "clickhouse-reader-pro")).toMatchObject({ spec: { data: [{ secretKey: "password", remoteRef: { key: `${prefix}/reader-pro-password` } }] } });
    // The installation starts only once every user's password exists.
    const installation = Object.entries(resources.kubernetes_manifest ?? {}).find(([, m]) => get(m, "manifest.kind") === "ClickHouseInstallation")?.[1] as Json;
    const secretIds = Object.entries(resources.kubernetes_manifest ?? {})
      .filter(([, m]) => get(m, "manifest.kind") === "ExternalSecret" && get(m, "manifest.metadata.namespace") === NAMESPACES.clickhouse && get(m, "manifest.metadata.name") !== "clickhouse-operator-credentials")
      .map(([id]) => `kubernetes_manifest.${id}`);
    expect(get(installation, "depends_on")).toEqual(expect.arrayContaining(secretIds));
    for (const s of secrets) {
      expect(get(s, "spec.secretStoreRef")).toEqual({ name: store.storeName, kind: store.storeKind });
      for (const d of get(s, "spec.data") as Json[]) expect(String(get(d, "remoteRef.key"))).toMatch(new RegExp(`^${prefix}/`));
    }
  });

  it("applies the schema module's DDL with clickhouse-client as the admin, after the installation is ready", () => {
    const container = (get(job, "spec.template.spec.containers") as Json[])[0];
    expect(get(container, "command")).toEqual(["clickhouse-client"]);
    expect(get(container, "args")).toEqual(expect.arrayContaining(["--user", "platform_admin", "--password", "$(CLICKHOUSE_PASSWORD)", "--queries-file", "/schema/migration.sql"]));
    expect(get(container, "env")).toContainEqual({ name: "CLICKHOUSE_PASSWORD", valueFrom: { secretKeyRef: { name: "clickhouse-admin", key: "password" } } });
    expect(get(job, "spec.template.metadata.labels")).toMatchObject({ [POLICY_LABELS.clickhouseClient]: "true" });
    expect(get(jobResource, "wait")).toEqual({ condition: [{ type: "Complete", status: "True" }] });
    expect((get(jobResource, "depends_on") as string[]).some((d) => d.startsWith("kubernetes_manifest.clickhouse_installation"))).toBe(true);
    const [schema] = Object.values(resources.kubernetes_config_map_v1 ?? {});
    expect(get(schema, "data")).toEqual({ "migration.sql": clickhouseMigrationSql(resolveClickHouseProps(propsFor("prod"))) });
  });

  it("runs the migration again (a new Job) when its SQL changes, and not for a catalog change (the readers' limits are the installation's configuration)", () => {
    const longer = get(jobOf(synthEnv("prod", { eventTtlDays: propsFor("prod").eventTtlDays + 1 })), "manifest") as Json;
    expect(get(longer, "metadata.name")).not.toBe(get(job, "metadata.name"));
    expect(String(get(job, "metadata.name"))).toMatch(/^clickhouse-migrate-[0-9a-f]{12}$/);
    const raw = structuredClone(tiers) as unknown as { free: { clickhouse: { quota: { queries: number } } } };
    raw.free.clickhouse.quota.queries += 1;
    const changed = synthEnv("prod", { tiers: validateTierCatalog(raw) });
    expect(get(jobOf(changed), "manifest.metadata.name")).toBe(get(job, "metadata.name"));
    const [chi] = manifests(changed, "ClickHouseInstallation");
    expect(get(chi, "spec.configuration.quotas")).toMatchObject({ [`${tierQuotaName("free")}/interval/queries`]: String(tiers.free.clickhouse.quota.queries + 1) });
  });

  it("exposes the HTTP endpoint, database and table the services use", () => {
    let construct: ClickHouse | undefined;
    synth((scope) => {
      construct = new ClickHouse(scope, "clickhouse", propsFor("dev"));
    });
    expect(construct).toMatchObject({
      httpUrl: "http://clickhouse-events.clickhouse.svc.cluster.local:8123",
      nativeEndpoint: "clickhouse-events.clickhouse.svc.cluster.local:9000",
      database: "enchanted",
      table: "swarm_events",
      ingestorCredentials: { username: "swarm_ingestor", secretName: "clickhouse-ingestor", passwordKey: "password", namespaces: [NAMESPACES.platform] },
      lifecycleCredentials: { username: "swarm_lifecycle", secretName: "clickhouse-lifecycle", passwordKey: "password", remoteKey: `${propsFor("dev").secretPrefix}/lifecycle-password` },
    });
    for (const tier of PLAN_TIER_NAMES) {
      expect(construct?.readerCredentials[tier]).toEqual({ username: readerUserName(tier), ...clickhouseSecrets(propsFor("dev").secretPrefix).readers[tier] });
    }
  });

  it.each([
    [{ keeperReplicas: 2 }, /keeperReplicas = 2 is not a Keeper quorum size\. Fix: use 1 \(dev only\), 3 or 5/],
    [{ replicas: 0 }, /replicas = 0 is not a whole number from 1 to 5\. Fix:/],
    [{ storageGiB: 5 }, /storageGiB = 5 .*Fix: give every server 10 GiB/],
    [{ name: "Events" }, /name = "Events" is not a short DNS label/],
    [{ secretPrefix: "bad prefix!" }, /secretPrefix = "bad prefix!" is not a Secrets Manager path/],
    [{ eventTtlDays: 0 }, /eventTtlDays = 0/],
  ] as const)("refuses %j, naming the prop, the value and the fix", (bad, message) => {
    expect(() => synth((scope) => new ClickHouse(scope, "clickhouse", { ...propsFor("dev"), ...bad }))).toThrow(message);
  });
});
