import { createHash } from "node:crypto";
import { Annotations } from "@cdktf/provider-kubernetes/lib/annotations/index.js";
import { ConfigMapV1 } from "@cdktf/provider-kubernetes/lib/config-map-v1/index.js";
import { Manifest } from "@cdktf/provider-kubernetes/lib/manifest/index.js";
import { Token, type ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import type { TierCatalog } from "../config/tiers.js";
import { CONTAINER_IMAGES, HELM_CHARTS } from "../config/versions.js";
import {
  CLICKHOUSE_USERS,
  grantQueries,
  ingestorPrivileges,
  migrationSql,
  sqlScript,
  SWARM_DATABASE,
  SWARM_EVENTS_TABLE,
} from "../services/clickhouse-schema/index.js";
import { PinnedHelmRelease, RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT } from "./pinned-helm-release.js";
import { ENCRYPTED_STORAGE_CLASS, NAMESPACES, POLICY_LABELS, type ISecretStore, PORTS } from "./platform-interfaces.js";

/** The Altinity operator's chart: repository, name and pinned version (config/versions.ts). */
export const CLICKHOUSE_OPERATOR_CHART = HELM_CHARTS.clickhouseOperator;
/** Name of the operator's Deployment (the chart's `fullnameOverride`). */
export const CLICKHOUSE_OPERATOR_NAME = "clickhouse-operator";
/** ClickHouse server and Keeper images (an LTS line). */
export const CLICKHOUSE_IMAGE = CONTAINER_IMAGES.clickhouseServer;
export const CLICKHOUSE_KEEPER_IMAGE = CONTAINER_IMAGES.clickhouseKeeper;
/** Client port of the Keeper servers (the operator's `keeper-<name>` service). */
const KEEPER_CLIENT_PORT = 2181;

/** The `clickhouse` user and group of the official images. */
const CLICKHOUSE_UID = 101;
/** The operator images run as `nobody` by name; Pod Security needs the number. */
const NOBODY_UID = 65534;
/** Labels the operator puts on the pods it creates. */
const CHI_LABEL = "clickhouse.altinity.com/chi";
const CHI_SHARD_LABEL = "clickhouse.altinity.com/shard";
const CHK_LABEL = "clickhouse-keeper.altinity.com/chk";
const ZONE = "topology.kubernetes.io/zone";
const HOSTNAME = "kubernetes.io/hostname";

/**
 * The Kubernetes Secrets this construct keeps in sync, and the Secrets Manager secrets (under the
 * environment's `clickhouse.secretPrefix`) they come from. The admin and ingestor secrets hold the
 * password as a plain value; the operator's holds JSON `{"username": ..., "password": ...}`.
 * Terraform never sees a value: the Secrets Manager containers are created empty elsewhere
 * (`ManagedSecret`) and filled out of band.
 */
export function clickhouseSecrets(secretPrefix: string) {
  return {
    admin: { secretName: "clickhouse-admin", remoteKey: `${secretPrefix}/admin-password`, passwordKey: "password" },
    ingestor: { secretName: "clickhouse-ingestor", remoteKey: `${secretPrefix}/ingestor-password`, passwordKey: "password" },
    operator: { secretName: "clickhouse-operator-credentials", remoteKey: `${secretPrefix}/operator-credentials` },
  } as const;
}
/** The operator's credentials Secret (fixed: the operator's config names it). */
const OPERATOR_CREDENTIALS_SECRET = clickhouseSecrets("").operator.secretName;

// ---------------------------------------------------------------------------------------------
// The operator (platform stack: its chart installs the CRDs the workloads stack's resources use)
// ---------------------------------------------------------------------------------------------

export interface ClickHouseOperatorProps {
  /** Chart version from the environment's config. @default CLICKHOUSE_OPERATOR_CHART.version */
  readonly version?: string;
  /** Resources the release waits for (its namespace). @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * The operator chart's values. Pure, for tests.
 * - CRDs come from the chart's `crds/` on install. The chart's CRD hook is off: its Job runs an
 *   unpinned kubectl image without a security context, which Pod Security `restricted` refuses.
 * - The operator's own ClickHouse credentials come from an ExternalSecret ({@link ClickHouse}),
 *   never from values: the chart's Secret (with its well-known default password) is not created.
 * - It watches only the ClickHouse namespace and runs as a numeric non-root user.
 */
export function clickhouseOperatorChartValues(): Record<string, unknown> {
  return {
    fullnameOverride: CLICKHOUSE_OPERATOR_NAME,
    crdHook: { enabled: false },
    secret: { create: false },
    podSecurityContext: { ...RESTRICTED_POD_SECURITY_CONTEXT, runAsUser: NOBODY_UID, runAsGroup: NOBODY_UID },
    operator: { containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
    metrics: { containerSecurityContext: RESTRICTED_CONTAINER_SECURITY_CONTEXT },
    configs: {
      files: {
        "config.yaml": {
          watch: { namespaces: [NAMESPACES.clickhouse] },
          clickhouse: { access: { secret: { namespace: NAMESPACES.clickhouse, name: OPERATOR_CREDENTIALS_SECRET } } },
        },
      },
    },
  };
}

/** The Altinity ClickHouse operator and its CRDs, in the ClickHouse namespace. */
export class ClickHouseOperator extends Construct {
  readonly helm: PinnedHelmRelease;
  constructor(scope: Construct, id: string, props: ClickHouseOperatorProps = {}) {
    super(scope, id);
    this.helm = new PinnedHelmRelease(this, "chart", {
      chart: CLICKHOUSE_OPERATOR_CHART,
      ...(props.version ? { version: props.version } : {}),
      releaseName: CLICKHOUSE_OPERATOR_NAME,
      namespace: NAMESPACES.clickhouse,
      ...(props.dependsOn ? { dependsOn: props.dependsOn } : {}),
      values: clickhouseOperatorChartValues(),
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The event store (workloads stack: custom resources of the operator and of External Secrets)
// ---------------------------------------------------------------------------------------------

export interface ClickHouseProps {
  /** The plan-tier catalog: the roles, settings profiles and quotas the migration creates. */
  readonly tiers: TierCatalog;
  /** The store the passwords are read through (External Secrets). */
  readonly secretStore: ISecretStore;
  /** Secrets Manager prefix of the passwords (config `clickhouse.secretPrefix`). */
  readonly secretPrefix: string;
  /** Rows older than this are deleted by the table's TTL (config `clickhouse.eventTtlDays`). */
  readonly eventTtlDays: number;
  /** @default 1 */
  readonly shards?: number;
  /** Replicas of every shard. @default 2 */
  readonly replicas?: number;
  /** Keeper servers: 1 (dev) or an odd quorum. @default 3 */
  readonly keeperReplicas?: number;
  /** Data volume of every server. @default 100 */
  readonly storageGiB?: number;
  /** Data volume of every Keeper server. @default 10 */
  readonly keeperStorageGiB?: number;
  /** Name of the installation (the HTTP service is `clickhouse-<name>`). @default "events" */
  readonly name?: string;
  /** @default CLICKHOUSE_IMAGE */
  readonly image?: string;
  /** @default CLICKHOUSE_KEEPER_IMAGE */
  readonly keeperImage?: string;
  /** CPU request of every server. @default 2000 */
  readonly cpuMillicores?: number;
  /** Memory request and limit of every server. @default 8192 */
  readonly memoryMiB?: number;
  /** CPU request of every Keeper server. @default 500 */
  readonly keeperCpuMillicores?: number;
  /** Memory request and limit of every Keeper server. @default 1024 */
  readonly keeperMemoryMiB?: number;
  /**
   * Addresses the admin and ingestor users may connect from. The namespace's NetworkPolicies
   * admit only labelled clients, so ClickHouse does not narrow it again.
   * @default ["0.0.0.0/0", "::/0"]
   */
  readonly clientCidrs?: readonly string[];
  /** Namespaces where the ingestor runs: each gets a copy of its password Secret. @default [NAMESPACES.platform] */
  readonly ingestorNamespaces?: readonly string[];
  /** Resources everything here waits for. @default - none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

const DEFAULTS = {
  shards: 1,
  replicas: 2,
  keeperReplicas: 3,
  storageGiB: 100,
  keeperStorageGiB: 10,
  name: "events",
  cpuMillicores: 2_000,
  memoryMiB: 8_192,
  keeperCpuMillicores: 500,
  keeperMemoryMiB: 1_024,
  clientCidrs: ["0.0.0.0/0", "::/0"],
} as const;
/** The cluster name inside the installation, which is also the `{cluster}` macro of the DDL. */
const CLUSTER_NAME = "events";
const KEEPER_CLUSTER_NAME = "keeper";
/** Minutes Terraform waits for the installation to reconcile and for the migration to finish. */
const INSTALL_TIMEOUT = "45m";
const MIGRATION_TIMEOUT = "20m";
const MIGRATION_BACKOFF_LIMIT = 6;
const SCHEMA_FILE = "migration.sql";

/** ClickHouseProps with every default applied. */
export interface ResolvedClickHouseProps {
  readonly tiers: TierCatalog;
  readonly secretPrefix: string;
  readonly eventTtlDays: number;
  readonly shards: number;
  readonly replicas: number;
  readonly keeperReplicas: number;
  readonly storageGiB: number;
  readonly keeperStorageGiB: number;
  readonly name: string;
  readonly image: string;
  readonly keeperImage: string;
  readonly cpuMillicores: number;
  readonly memoryMiB: number;
  readonly keeperCpuMillicores: number;
  readonly keeperMemoryMiB: number;
  readonly clientCidrs: readonly string[];
  readonly ingestorNamespaces: readonly string[];
}

/** Applies defaults and checks every prop; a bad value fails with its name, value and fix. */
export function resolveClickHouseProps(props: ClickHouseProps, path = "ClickHouse"): ResolvedClickHouseProps {
  const r: ResolvedClickHouseProps = {
    tiers: props.tiers,
    secretPrefix: props.secretPrefix,
    eventTtlDays: props.eventTtlDays,
    shards: props.shards ?? DEFAULTS.shards,
    replicas: props.replicas ?? DEFAULTS.replicas,
    keeperReplicas: props.keeperReplicas ?? DEFAULTS.keeperReplicas,
    storageGiB: props.storageGiB ?? DEFAULTS.storageGiB,
    keeperStorageGiB: props.keeperStorageGiB ?? DEFAULTS.keeperStorageGiB,
    name: props.name ?? DEFAULTS.name,
    image: props.image ?? CLICKHOUSE_IMAGE,
    keeperImage: props.keeperImage ?? CLICKHOUSE_KEEPER_IMAGE,
    cpuMillicores: props.cpuMillicores ?? DEFAULTS.cpuMillicores,
    memoryMiB: props.memoryMiB ?? DEFAULTS.memoryMiB,
    keeperCpuMillicores: props.keeperCpuMillicores ?? DEFAULTS.keeperCpuMillicores,
    keeperMemoryMiB: props.keeperMemoryMiB ?? DEFAULTS.keeperMemoryMiB,
    clientCidrs: [...(props.clientCidrs ?? DEFAULTS.clientCidrs)],
    ingestorNamespaces: [...(props.ingestorNamespaces ?? [NAMESPACES.platform])],
  };
  const fail = (field: string, value: unknown, problem: string, fix: string): never => {
    throw new Error(`ClickHouse ${path}: ${field} = ${JSON.stringify(value)} ${problem}. Fix: ${fix}`);
  };
  const int = (field: keyof ResolvedClickHouseProps, min: number, max: number, fix: string) => {
    const v = r[field];
    if (Token.isUnresolved(v)) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(field, v, `is not a whole number from ${min} to ${max}`, fix);
  };
  int("shards", 1, 64, "use 1 to 64 shards");
  int("replicas", 1, 5, "use 1 replica (dev only) or 2 to 5");
  int("storageGiB", 10, 65_536, "give every server 10 GiB to 64 TiB");
  int("keeperStorageGiB", 1, 1_024, "give every Keeper server 1 to 1024 GiB");
  int("eventTtlDays", 1, 3_650, "keep events 1 to 3650 days (config clickhouse.eventTtlDays)");
  int("cpuMillicores", 100, 256_000, "request at least 100 millicores");
  int("memoryMiB", 1_024, 4_194_304, "give every server at least 1024 MiB");
  int("keeperCpuMillicores", 100, 64_000, "request at least 100 millicores");
  int("keeperMemoryMiB", 256, 262_144, "give every Keeper server at least 256 MiB");
  if (!Token.isUnresolved(r.keeperReplicas) && ![1, 3, 5].includes(r.keeperReplicas)) {
    fail("keeperReplicas", r.keeperReplicas, "is not a Keeper quorum size", "use 1 (dev only), 3 or 5");
  }
  if (!Token.isUnresolved(r.name) && !/^[a-z]([a-z0-9-]{0,13}[a-z0-9])?$/.test(r.name)) {
    fail("name", r.name, "is not a short DNS label (it prefixes every pod and service name)", "use 1-15 lower-case letters, digits and hyphens, starting with a letter");
  }
  if (!Token.isUnresolved(r.secretPrefix) && !/^[A-Za-z0-9/_+=.@-]{1,400}$/.test(r.secretPrefix)) {
    fail("secretPrefix", r.secretPrefix, "is not a Secrets Manager path", 'use a prefix such as "enchanted/prod/clickhouse"');
  }
  if (r.clientCidrs.length === 0) fail("clientCidrs", r.clientCidrs, "is empty", "list the ranges clients connect from, or leave the default");
  return r;
}

/** `http://<service>:8123`: what the ingestor and the platform's readers connect to. */
export function clickhouseHttpUrl(name: string): string {
  return `http://${clickhouseHost(name)}:${PORTS.clickhouseHttp}`;
}

/** The installation's service, which balances over every server. */
export function clickhouseHost(name: string): string {
  return `clickhouse-${name}.${NAMESPACES.clickhouse}.svc.cluster.local`;
}

/** The Keeper installation's client service (the operator names it `keeper-<name>`). */
export function keeperHost(name: string): string {
  return `keeper-${name}.${NAMESPACES.clickhouse}.svc.cluster.local`;
}

function quantity(millicores: number, mebibytes: number) {
  return {
    requests: { cpu: `${millicores}m`, memory: `${mebibytes}Mi` },
    limits: { memory: `${mebibytes}Mi` },
  };
}

/** Pod and container security of the ClickHouse and Keeper images: their own non-root user. */
const CLICKHOUSE_POD_SECURITY = {
  runAsNonRoot: true,
  runAsUser: CLICKHOUSE_UID,
  runAsGroup: CLICKHOUSE_UID,
  fsGroup: CLICKHOUSE_UID,
  fsGroupChangePolicy: "OnRootMismatch",
  seccompProfile: { type: "RuntimeDefault" },
} as const;
const CLICKHOUSE_CONTAINER_SECURITY = {
  allowPrivilegeEscalation: false,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
} as const;

function volumeClaim(name: string, storageGiB: number) {
  return {
    name,
    // Deleting the installation keeps the data.
    reclaimPolicy: "Retain",
    spec: {
      storageClassName: ENCRYPTED_STORAGE_CLASS,
      accessModes: ["ReadWriteOnce"],
      resources: { requests: { storage: `${storageGiB}Gi` } },
    },
  };
}

/** The ClickHouseKeeperInstallation: an odd quorum, one server per node, spread over zones. Pure, for tests. */
export function keeperInstallationManifest(r: ResolvedClickHouseProps): Record<string, unknown> {
  const selector = { matchLabels: { [CHK_LABEL]: r.name } };
  return {
    apiVersion: "clickhouse-keeper.altinity.com/v1",
    kind: "ClickHouseKeeperInstallation",
    metadata: { name: r.name, namespace: NAMESPACES.clickhouse },
    spec: {
      defaults: { templates: { podTemplate: "keeper", dataVolumeClaimTemplate: "keeper-data" } },
      configuration: {
        clusters: [{ name: KEEPER_CLUSTER_NAME, pdbMaxUnavailable: 1, layout: { replicasCount: r.keeperReplicas } }],
      },
      templates: {
        podTemplates: [
          {
            name: "keeper",
            metadata: { labels: { "app.kubernetes.io/name": "clickhouse-keeper", "app.kubernetes.io/part-of": "enchanted" } },
            spec: {
              securityContext: CLICKHOUSE_POD_SECURITY,
              affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: selector, topologyKey: HOSTNAME }] } },
              topologySpreadConstraints: [{ maxSkew: 1, topologyKey: ZONE, whenUnsatisfiable: "DoNotSchedule", labelSelector: selector }],
              containers: [
                {
                  name: "clickhouse-keeper",
                  image: r.keeperImage,
                  resources: quantity(r.keeperCpuMillicores, r.keeperMemoryMiB),
                  securityContext: CLICKHOUSE_CONTAINER_SECURITY,
                },
              ],
            },
          },
        ],
        volumeClaimTemplates: [volumeClaim("keeper-data", r.keeperStorageGiB)],
      },
    },
  };
}

/** A user's password read from a Kubernetes Secret (the operator passes it by environment variable, never in a ConfigMap). */
function passwordFrom(secret: { readonly secretName: string; readonly passwordKey: string }) {
  return { valueFrom: { secretKeyRef: { name: secret.secretName, key: secret.passwordKey } } };
}

/**
 * Server configuration: the access-storage layout (SQL-created users, roles, profiles, quotas and
 * row policies live in Keeper and so reach every replica and shard), and stricter access defaults.
 */
const USER_DIRECTORIES_XML = [
  "<clickhouse>",
  '  <user_directories replace="replace">',
  "    <users_xml><path>/etc/clickhouse-server/users.xml</path></users_xml>",
  "    <replicated><zookeeper_path>/clickhouse/access/</zookeeper_path></replicated>",
  "  </user_directories>",
  "</clickhouse>",
].join("\n");

/**
 * The ClickHouseInstallation: shards x replicas from config, replicated through the Keeper
 * installation, data on encrypted gp3, replicas of a shard on different nodes and spread over
 * zones, non-root, users whose passwords come from Kubernetes Secrets, and a cluster secret so
 * that a distributed query runs on every shard as the user who sent it (row policies hold there
 * too). Pure, for tests.
 */
export function clickhouseInstallationManifest(r: ResolvedClickHouseProps): Record<string, unknown> {
  const secrets = clickhouseSecrets(r.secretPrefix);
  const ingestor = CLICKHOUSE_USERS.ingestor;
  const admin = CLICKHOUSE_USERS.admin;
  return {
    apiVersion: "clickhouse.altinity.com/v1",
    kind: "ClickHouseInstallation",
    metadata: { name: r.name, namespace: NAMESPACES.clickhouse },
    spec: {
      defaults: { templates: { podTemplate: "clickhouse", dataVolumeClaimTemplate: "data" } },
      configuration: {
        zookeeper: { nodes: [{ host: keeperHost(r.name), port: KEEPER_CLIENT_PORT }] },
        users: {
          [`${admin}/password`]: passwordFrom(secrets.admin),
          [`${admin}/access_management`]: 1,
          [`${admin}/networks/ip`]: [...r.clientCidrs],
          [`${admin}/profile`]: "default",
          [`${admin}/quota`]: "default",
          [`${ingestor}/password`]: passwordFrom(secrets.ingestor),
          [`${ingestor}/networks/ip`]: [...r.clientCidrs],
          [`${ingestor}/profile`]: "default",
          [`${ingestor}/quota`]: "default",
          [`${ingestor}/grants/query`]: grantQueries(ingestorPrivileges({ replicated: true })),
        },
        settings: {
          // Users no row policy covers read no rows; tenants cannot read system tables.
          "access_control_improvements/users_without_row_policies_can_read_rows": "false",
          "access_control_improvements/select_from_system_db_requires_grant": "true",
          "access_control_improvements/select_from_information_schema_requires_grant": "true",
          "access_control_improvements/settings_constraints_replace_previous": "true",
        },
        files: { "config.d/enchanted-user-directories.xml": USER_DIRECTORIES_XML },
        clusters: [
          {
            name: CLUSTER_NAME,
            secret: { auto: "true" },
            pdbMaxUnavailable: 1,
            layout: { shardsCount: r.shards, replicasCount: r.replicas },
          },
        ],
      },
      templates: {
        podTemplates: [
          {
            name: "clickhouse",
            podDistribution: [{ type: "ShardAntiAffinity", topologyKey: HOSTNAME }],
            metadata: { labels: { "app.kubernetes.io/name": "clickhouse", "app.kubernetes.io/part-of": "enchanted" } },
            spec: {
              securityContext: CLICKHOUSE_POD_SECURITY,
              topologySpreadConstraints: [
                {
                  maxSkew: 1,
                  topologyKey: ZONE,
                  whenUnsatisfiable: "DoNotSchedule",
                  labelSelector: { matchLabels: { [CHI_LABEL]: r.name } },
                  // Spread each shard's replicas: losing a zone loses at most one copy of a shard.
                  matchLabelKeys: [CHI_SHARD_LABEL],
                },
              ],
              containers: [
                {
                  name: "clickhouse",
                  image: r.image,
                  resources: quantity(r.cpuMillicores, r.memoryMiB),
                  securityContext: CLICKHOUSE_CONTAINER_SECURITY,
                },
              ],
            },
          },
        ],
        volumeClaimTemplates: [volumeClaim("data", r.storageGiB)],
      },
    },
  };
}

/** The migration: schema then access control, for the replicated cluster. Pure, for tests. */
export function clickhouseMigrationSql(r: Pick<ResolvedClickHouseProps, "tiers" | "eventTtlDays">): string {
  return sqlScript(migrationSql(r.tiers, { eventTtlDays: r.eventTtlDays, replicated: true }));
}

/**
 * ClickHouse for the event history: a Keeper installation and a replicated, sharded
 * ClickHouseInstallation (Altinity operator, see {@link ClickHouseOperator}), the passwords of its
 * configuration users synced from Secrets Manager, and a Job that applies the schema and the
 * access control from services/clickhouse-schema whenever that SQL changes. Lives in the
 * workloads stack.
 */
export class ClickHouse extends Construct {
  /** HTTP interface (`@clickhouse/client`'s `url`). */
  readonly httpUrl: string;
  /** Native protocol `host:port`. */
  readonly nativeEndpoint: string;
  readonly database = SWARM_DATABASE;
  readonly table = SWARM_EVENTS_TABLE;
  /** The ingestor's user and the Secret (same name in each of `ingestorNamespaces`) holding its password. */
  readonly ingestorCredentials: { readonly username: string; readonly secretName: string; readonly passwordKey: string; readonly namespaces: readonly string[] };
  readonly installation: Manifest;
  readonly keeper: Manifest;
  readonly migration: Manifest;

  constructor(scope: Construct, id: string, props: ClickHouseProps) {
    super(scope, id);
    const r = resolveClickHouseProps(props, this.node.path);
    const secrets = clickhouseSecrets(r.secretPrefix);
    const dependsOn = [...(props.dependsOn ?? [])];
    const ns = NAMESPACES.clickhouse;

    // Passwords -----------------------------------------------------------------------------
    const sync = (id: string, namespace: string, secretName: string, remoteKey: string, data: readonly { secretKey: string; property?: string }[]) =>
      new Manifest(this, id, {
        manifest: {
          apiVersion: "external-secrets.io/v1",
          kind: "ExternalSecret",
          metadata: { name: secretName, namespace },
          spec: {
            refreshInterval: "1h",
            secretStoreRef: { name: props.secretStore.storeName, kind: props.secretStore.storeKind },
            target: { name: secretName, creationPolicy: "Owner", deletionPolicy: "Retain" },
            data: data.map((d) => ({ secretKey: d.secretKey, remoteRef: { key: remoteKey, ...(d.property ? { property: d.property } : {}) } })),
          },
        },
        // Ready once the Secret exists: what depends on it never starts without it.
        wait: { condition: [{ type: "Ready", status: "True" }] },
        dependsOn,
      });
    const adminSecret = sync("admin-password", ns, secrets.admin.secretName, secrets.admin.remoteKey, [{ secretKey: secrets.admin.passwordKey }]);
    const ingestorSecret = sync("ingestor-password", ns, secrets.ingestor.secretName, secrets.ingestor.remoteKey, [{ secretKey: secrets.ingestor.passwordKey }]);
    for (const namespace of r.ingestorNamespaces) {
      sync(`ingestor-password-${namespace}`, namespace, secrets.ingestor.secretName, secrets.ingestor.remoteKey, [{ secretKey: secrets.ingestor.passwordKey }]);
    }
    const operatorSecret = sync("operator-credentials", ns, secrets.operator.secretName, secrets.operator.remoteKey, [
      { secretKey: "username", property: "username" },
      { secretKey: "password", property: "password" },
    ]);
    // The operator reads its credentials once, at start: restart it after they first exist.
    const operatorRestart = new Annotations(this, "operator-credentials-reload", {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: CLICKHOUSE_OPERATOR_NAME, namespace: ns },
      templateAnnotations: { "enchanted.io/credentials-secret": secrets.operator.secretName },
      force: true,
      dependsOn: [operatorSecret],
    });

    // Keeper and ClickHouse ---------------------------------------------------------------------
    const completed = { fields: { "status.status": "Completed" } };
    const timeouts = { create: INSTALL_TIMEOUT, update: INSTALL_TIMEOUT };
    this.keeper = new Manifest(this, "keeper", {
      manifest: keeperInstallationManifest(r),
      wait: completed,
      timeouts,
      dependsOn: [...dependsOn, operatorRestart],
    });
    this.installation = new Manifest(this, "installation", {
      manifest: clickhouseInstallationManifest(r),
      wait: completed,
      timeouts,
      dependsOn: [this.keeper, adminSecret, ingestorSecret, operatorRestart],
    });

    // Migration ------------------------------------------------------------------------------
    const script = clickhouseMigrationSql(r);
    const digest = createHash("sha256").update(script).update(r.image).digest("hex").slice(0, 12);
    const schema = new ConfigMapV1(this, "schema", {
      metadata: { name: `clickhouse-schema-${digest}`, namespace: ns },
      data: { [SCHEMA_FILE]: script },
      immutable: true,
    });
    // A plain batch/v1 Job as a manifest (the typed kubernetes_job_v1 loads ~3 MB of generated
    // code on every synth); Terraform waits for its Complete condition like wait_for_completion.
    this.migration = new Manifest(this, "migration", {
      manifest: {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: `clickhouse-migrate-${digest}`, namespace: ns, labels: { "app.kubernetes.io/name": "clickhouse-migrate" } },
        spec: {
          backoffLimit: MIGRATION_BACKOFF_LIMIT,
          template: {
            metadata: { labels: { "app.kubernetes.io/name": "clickhouse-migrate", [POLICY_LABELS.clickhouseClient]: "true" } },
            spec: {
              restartPolicy: "OnFailure",
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: CLICKHOUSE_UID,
                runAsGroup: CLICKHOUSE_UID,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [
                {
                  name: "clickhouse-client",
                  image: r.image,
                  command: ["clickhouse-client"],
                  // Kubernetes expands $(CLICKHOUSE_PASSWORD) from the Secret-backed variable below.
                  args: [
                    "--host",
                    clickhouseHost(r.name),
                    "--port",
                    String(PORTS.clickhouseNative),
                    "--user",
                    CLICKHOUSE_USERS.admin,
                    "--password",
                    "$(CLICKHOUSE_PASSWORD)",
                    "--multiquery",
                    "--queries-file",
                    `/schema/${SCHEMA_FILE}`,
                  ],
                  env: [
                    { name: "CLICKHOUSE_PASSWORD", valueFrom: { secretKeyRef: { name: secrets.admin.secretName, key: secrets.admin.passwordKey } } },
                    { name: "HOME", value: "/tmp" },
                  ],
                  volumeMounts: [
                    { name: "schema", mountPath: "/schema", readOnly: true },
                    { name: "tmp", mountPath: "/tmp" },
                  ],
                  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "512Mi" } },
                  securityContext: {
                    allowPrivilegeEscalation: false,
                    readOnlyRootFilesystem: true,
                    runAsNonRoot: true,
                    capabilities: { drop: ["ALL"] },
                    seccompProfile: { type: "RuntimeDefault" },
                  },
                },
              ],
              volumes: [
                { name: "schema", configMap: { name: schema.metadata.name } },
                { name: "tmp", emptyDir: {} },
              ],
            },
          },
        },
      },
      wait: { condition: [{ type: "Complete", status: "True" }] },
      timeouts: { create: MIGRATION_TIMEOUT, update: MIGRATION_TIMEOUT },
      dependsOn: [this.installation, schema, adminSecret],
    });

    this.httpUrl = clickhouseHttpUrl(r.name);
    this.nativeEndpoint = `${clickhouseHost(r.name)}:${PORTS.clickhouseNative}`;
    this.ingestorCredentials = {
      username: CLICKHOUSE_USERS.ingestor,
      secretName: secrets.ingestor.secretName,
      passwordKey: secrets.ingestor.passwordKey,
      namespaces: r.ingestorNamespaces,
    };
  }
}
