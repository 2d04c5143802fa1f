import { Token, type ITerraformDependable } from "cdktf";
import type { TierCatalog } from "../../config/tiers.js";
import { propFail, type PropScope } from "../core/validation.js";
import type { ISecretStore } from "../platform-interfaces.js";
import { NAMESPACES } from "../platform-interfaces.js";
import type { ServiceScheduling } from "../service-workload.js";
import { CLICKHOUSE_IMAGE, CLICKHOUSE_KEEPER_IMAGE } from "./names.js";

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
  /**
   * Nodes the servers and the Keeper quorum run on (the environment's data pool: its labels and
   * the tolerations of its taints). @default - any untainted node
   */
  readonly scheduling?: ServiceScheduling;
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
  readonly scheduling?: ServiceScheduling;
}

/** Applies defaults and checks every prop; a bad value fails with its name, value and fix. */
export function resolveClickHouseProps(props: ClickHouseProps, scope: PropScope = "ClickHouse"): ResolvedClickHouseProps {
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
    ...(props.scheduling ? { scheduling: props.scheduling } : {}),
  };
  const fail = propFail(scope);
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
