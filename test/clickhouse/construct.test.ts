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
import { ENVIRONMENT_NAMES, HELM_CHARTS, loadEnvironment, loadTierCatalog, validateTierCatalog, type EnvironmentName } from "../../config/index.js";
import {
  ClickHouse,
  clickhouseInstallationManifest,
  clickhouseMigrationSql,
  ClickHouseOperator,
  clickhouseOperatorChartValues,
  keeperInstallationManifest,
  resolveClickHouseProps,
  type ClickHouseProps,
} from "../../constructs/clickhouse/index.js";
import { ENCRYPTED_STORAGE_CLASS, NAMESPACES, POLICY_LABELS, type ISecretStore } from "../../constructs/platform-interfaces.js";
import { migrationSql, sqlScript } from "../../services/clickhouse-schema/index.js";

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
    expect(JSON.stringify(schema)).toContain(`INTERVAL ${config.eventTtlDays} DAY DELETE`);
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

  it("lets the ingestor only INSERT into the event tables", () => {
    expect(get(chi, "spec.configuration.users") as Json).toMatchObject({
      "swarm_ingestor/grants/query": ["GRANT INSERT ON enchanted.swarm_events", "GRANT INSERT ON enchanted.swarm_events_local"],
    });
    expect(Object.keys(get(chi, "spec.configuration.users") as Json).filter((k) => k.startsWith("swarm_ingestor/access_management"))).toEqual([]);
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

describe("the ClickHouse construct", () => {
  const resources = synthEnv("prod");
  const jobOf = (r: typeof resources) => Object.values(r.kubernetes_manifest ?? {}).find((m) => get(m, "manifest.kind") === "Job") as Json;
  const jobResource = jobOf(resources);
  const job = get(jobResource, "manifest") as Json;

  it("syncs the passwords from under secretPrefix through the given store, the ingestor's into its namespace, and the workers' (their ClickHouse user)", () => {
    const secrets = manifests(resources, "ExternalSecret");
    const prefix = loadEnvironment("prod").clickhouse.secretPrefix;
    expect(secrets.map((s) => `${get(s, "metadata.namespace")}/${get(s, "metadata.name")}`).sort()).toEqual(
      ["clickhouse/clickhouse-admin", "clickhouse/clickhouse-ingestor", "clickhouse/clickhouse-workers", "clickhouse/clickhouse-operator-credentials", `${NAMESPACES.platform}/clickhouse-ingestor`].sort(),
    );
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

  it("runs the migration again (a new Job) when the catalog changes", () => {
    const raw = structuredClone(tiers) as unknown as { free: { clickhouse: { quota: { queries: number } } } };
    raw.free.clickhouse.quota.queries += 1;
    const other = get(jobOf(synthEnv("prod", { tiers: validateTierCatalog(raw) })), "manifest") as Json;
    expect(get(other, "metadata.name")).not.toBe(get(job, "metadata.name"));
    expect(String(get(job, "metadata.name"))).toMatch(/^clickhouse-migrate-[0-9a-f]{12}$/);
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
    });
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
