/** The operator's custom resources and the migration's SQL, as pure functions of the resolved props. */
import {
  CLICKHOUSE_USERS,
  grantQueries,
  ingestorPrivileges,
  lifecyclePrivileges,
  migrationSql,
  readerUsersConfig,
  sqlScript,
  workerReaderPrivileges,
  type ReaderUserConfig,
} from "../../services/clickhouse-schema/index.js";
import { ENCRYPTED_STORAGE_CLASS, NAMESPACES } from "../platform-interfaces.js";
import {
  CHI_LABEL,
  CHI_SHARD_LABEL,
  CHK_LABEL,
  CLICKHOUSE_CONTAINER_SECURITY,
  CLICKHOUSE_POD_SECURITY,
  clickhouseSecrets,
  HOSTNAME,
  KEEPER_CLIENT_PORT,
  keeperHost,
  ZONE,
} from "./names.js";
import { podPlacement } from "../service-workload.js";
import type { ResolvedClickHouseProps } from "./props.js";

/** The cluster name inside the installation, which is also the `{cluster}` macro of the DDL. */
const CLUSTER_NAME = "events";
const KEEPER_CLUSTER_NAME = "keeper";

function quantity(millicores: number, mebibytes: number) {
  return {
    requests: { cpu: `${millicores}m`, memory: `${mebibytes}Mi` },
    limits: { memory: `${mebibytes}Mi` },
  };
}


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
              ...podPlacement(r.scheduling),
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

type Section = Record<string, unknown>;

/**
 * The installation's configuration users, their settings profiles and their quotas, in the
 * operator's flat `path/to/key` form (it renders them into users.d XML). The administrator, the
 * ingestor, the workers and the lifecycle user run on the default profile and quota with their
 * grants; each tier's reader exactly as {@link readerUsersConfig} declares it (the embedded engine
 * of the tests is configured from the same function): its profile's settings with their CONST and
 * MAX constraints, its quota keyed by the quota key every query carries (its tenant), so each
 * tenant is counted on its own under its tier's reader. Pure, for tests.
 */
export function clickhouseAccessConfiguration(r: Pick<ResolvedClickHouseProps, "tiers" | "secretPrefix" | "clientCidrs">): { readonly users: Section; readonly profiles: Section; readonly quotas: Section } {
  const secrets = clickhouseSecrets(r.secretPrefix);
  const u = CLICKHOUSE_USERS;
  const users: Section = {};
  const profiles: Section = {};
  const quotas: Section = {};
  const user = (name: string, secret: { readonly secretName: string; readonly passwordKey: string }, profile: string, quota: string, extra: Section) => {
    users[`${name}/password`] = passwordFrom(secret);
    users[`${name}/networks/ip`] = [...r.clientCidrs];
    users[`${name}/profile`] = profile;
    users[`${name}/quota`] = quota;
    for (const [key, value] of Object.entries(extra)) users[`${name}/${key}`] = value;
  };
  const replicated = { replicated: true };
  user(u.admin, secrets.admin, "default", "default", { access_management: 1 });
  user(u.ingestor, secrets.ingestor, "default", "default", { "grants/query": grantQueries(ingestorPrivileges(replicated)) });
  user(u.workers, secrets.workers, "default", "default", { "grants/query": grantQueries(workerReaderPrivileges(replicated)) });
  user(u.lifecycle, secrets.lifecycle, "default", "default", { "grants/query": grantQueries(lifecyclePrivileges(replicated)) });
  for (const reader of readerUsersConfig(r.tiers, replicated)) {
    user(reader.user, secrets.readers[reader.tier], reader.profile, reader.quotaName, { "grants/query": [...reader.grants] });
    Object.assign(profiles, readerProfile(reader));
    Object.assign(quotas, readerQuota(reader));
  }
  return { users, profiles, quotas };
}

/**
 * A reader's settings profile: each setting, and its constraint (`const` is a presence flag;
 * `max` the bound). Values as strings, as the XML carries them: no large number goes through a
 * float on its way (the byte limits reach 10^10 and more).
 */
function readerProfile(reader: ReaderUserConfig): Section {
  const out: Section = {};
  for (const s of reader.settings) {
    out[`${reader.profile}/${s.name}`] = String(s.value);
    // ClickHouse reads `<const>` by its presence; the operator refuses an empty value, so it carries "1".
    if (s.constraint === "CONST") out[`${reader.profile}/constraints/${s.name}/const`] = "1";
    if (s.constraint === "MAX") out[`${reader.profile}/constraints/${s.name}/max`] = String(s.value);
  }
  return out;
}

/** A reader's quota: keyed by the query's quota key (`<keyed>`, by presence), one interval with the catalog's limits. */
function readerQuota(reader: ReaderUserConfig): Section {
  const q = reader.quotaName;
  const out: Section = { [`${q}/keyed`]: "1", [`${q}/interval/duration`]: String(reader.quota.intervalSeconds) };
  for (const l of reader.quota.limits) out[`${q}/interval/${l.resource}`] = String(l.max);
  return out;
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
  const access = clickhouseAccessConfiguration(r);
  return {
    apiVersion: "clickhouse.altinity.com/v1",
    kind: "ClickHouseInstallation",
    metadata: { name: r.name, namespace: NAMESPACES.clickhouse },
    spec: {
      defaults: { templates: { podTemplate: "clickhouse", dataVolumeClaimTemplate: "data" } },
      configuration: {
        zookeeper: { nodes: [{ host: keeperHost(r.name), port: KEEPER_CLIENT_PORT }] },
        users: access.users,
        profiles: access.profiles,
        quotas: access.quotas,
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
              ...podPlacement(r.scheduling),
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
