/**
 * Names of everything the event store's SQL creates: the one home of the database, table, user,
 * role, settings-profile, quota and row-policy names that the migration, the ingestor, the
 * provisioning service, the construct and the tests share.
 */
import { assertTenantId } from "../../config/tenancy.js";
import type { PlanTierName } from "../../config/tiers.js";

/** Database of the event store. */
export const SWARM_DATABASE = "enchanted";
/** The table every reader and the ingestor use (a Distributed table when replicated). */
export const SWARM_EVENTS_TABLE = "swarm_events";
/** The per-shard ReplicatedReplacingMergeTree behind {@link SWARM_EVENTS_TABLE} (replicated topology only). */
export const SWARM_EVENTS_LOCAL_TABLE = "swarm_events_local";
/** The macro the Altinity operator defines on every host as the name of its cluster. */
export const CLUSTER_MACRO = "{cluster}";

/**
 * Users defined in the server configuration (their passwords come from Kubernetes Secrets, never
 * from SQL): the migration's administrator, the insert-only ingestor, and the workers' read-only
 * user (every query of which names its tenant: services/worker/src/handlers.ts `tenantHistory`).
 */
export const CLICKHOUSE_USERS = {
  admin: "platform_admin",
  ingestor: "swarm_ingestor",
  workers: "swarm_workers",
} as const;

/** Tenant reader users are `tenant_<tenant id>`; the row policy derives the tenant from this. */
export const TENANT_USER_PREFIX = "tenant_";

/** Row policies on the event tables. */
export const ROW_POLICIES = {
  /** Tenant roles see the rows whose tenant_id their user name carries. */
  tenantIsolation: "tenant_isolation",
  /** The administrator sees every row (support and repair). Everyone else sees none. */
  platformAdmin: "platform_admin_all_rows",
  /**
   * The workers' user reads the rows of the tenant its query is bound to (the job's, taken from
   * the subject the server filed the job under): the engine's own guard beside the query's
   * tenant filter, so a query that forgot its filter still reads no other tenant's row, and an
   * unbound query reads none (see `TENANT_BINDING_SETTING`).
   */
  workers: "workers_tenant_bound_by_query",
} as const;

/** `database.table`. */
export function qualified(table: string): string {
  return `${SWARM_DATABASE}.${table}`;
}

/** The tables that readers and the ingestor reach: with replication also the per-shard table (queries on shards run as the initial user). */
export function eventTables(replicated: boolean): readonly string[] {
  return replicated ? [SWARM_EVENTS_TABLE, SWARM_EVENTS_LOCAL_TABLE] : [SWARM_EVENTS_TABLE];
}

/** The ClickHouse user of one tenant's read path (data, created at provisioning, never synthesized). */
export function tenantUserName(tenantId: string): string {
  return `${TENANT_USER_PREFIX}${assertTenantId(tenantId)}`;
}

/** The role every tenant reader of a tier holds. */
export function tierRoleName(tier: PlanTierName): string {
  return `tenant_${tier}`;
}

/** The settings profile of a tier's role. */
export function tierProfileName(tier: PlanTierName): string {
  return `tenant_${tier}_settings`;
}

/** The quota of a tier's role (keyed by user name: each tenant is counted on its own). */
export function tierQuotaName(tier: PlanTierName): string {
  return `tenant_${tier}_quota`;
}
