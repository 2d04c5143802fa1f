/**
 * Names of everything the event store's SQL creates: the one home of the database, table, user,
 * role, settings-profile, quota and row-policy names that the migration, the ingestor, the
 * provisioning service, the construct and the tests share.
 */
import { PLAN_TIER_NAMES as PLAN_TIER_NAMES_FOR_RETIRED, type PlanTierName } from "../../config/tiers.js";

/** Database of the event store. */
export const SWARM_DATABASE = "enchanted";
/** The table every reader and the ingestor use (a Distributed table when replicated). */
export const SWARM_EVENTS_TABLE = "swarm_events";
/** The per-shard ReplicatedReplacingMergeTree behind {@link SWARM_EVENTS_TABLE} (replicated topology only). */
export const SWARM_EVENTS_LOCAL_TABLE = "swarm_events_local";
/**
 * Accepted and refused events per tenant and UTC day of their storage in JetStream (a
 * SummingMergeTree): the ingestor's quota and the events API's usage read it.
 */
export const TENANT_USAGE_TABLE = "tenant_usage_daily";
/** The per-shard table behind {@link TENANT_USAGE_TABLE} (replicated topology only). */
export const TENANT_USAGE_LOCAL_TABLE = "tenant_usage_daily_local";
/** The materialized view that counts every row inserted into the event table into {@link TENANT_USAGE_TABLE}. */
export const TENANT_USAGE_VIEW = "tenant_usage_daily_mv";
/**
 * Each tenant's plan tier and status as the provisioning service last wrote them (a
 * ReplacingMergeTree, one row per tenant): the ingestor's source of a tenant's allowance and
 * retention. Data, one row per tenant; never an access entity per tenant.
 */
export const TENANT_PLANS_TABLE = "tenant_plans";
/** The per-shard table behind {@link TENANT_PLANS_TABLE} (replicated topology only). */
export const TENANT_PLANS_LOCAL_TABLE = "tenant_plans_local";
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
  /** The provisioning service: writes tenant plans, deletes an offboarded tenant's rows. */
  lifecycle: "swarm_lifecycle",
} as const;

/** Row policies on the event tables. */
export const ROW_POLICIES = {
  /**
   * The events API's readers (one per tier) see the rows of the tenant their query is bound to
   * (the verified token's tenant, `TENANT_BINDING_SETTING`): the engine's guard beside each
   * query's own tenant filter.
   */
  tenantIsolation: "tenant_bound_by_query",
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

/** The usage tables (with replication also the per-shard table). */
export function usageTables(replicated: boolean): readonly string[] {
  return replicated ? [TENANT_USAGE_TABLE, TENANT_USAGE_LOCAL_TABLE] : [TENANT_USAGE_TABLE];
}

/** The plan tables (with replication also the per-shard table). */
export function planTables(replicated: boolean): readonly string[] {
  return replicated ? [TENANT_PLANS_TABLE, TENANT_PLANS_LOCAL_TABLE] : [TENANT_PLANS_TABLE];
}

/**
 * The events API's reader of a tier: a configuration user (password from a Secret) with the
 * tier's settings profile and quota. O(tiers): tenants share their tier's reader, each query is
 * bound to its tenant (row policy) and counted under its tenant (quota key).
 */
export function readerUserName(tier: PlanTierName): string {
  return `swarm_reader_${tier}`;
}

/** The settings profile of a tier's reader (configuration, beside its user). */
export function tierProfileName(tier: PlanTierName): string {
  return `reader_${tier}_settings`;
}

/** The quota of a tier's reader (keyed by the quota key each query carries: its tenant). */
export function tierQuotaName(tier: PlanTierName): string {
  return `reader_${tier}_quota`;
}

/**
 * Access entities earlier migrations created in SQL and this one drops: per-tier roles, their
 * profiles and quotas (the tiers' readers are configuration users now), and the policy that
 * derived a tenant from a per-tenant user name.
 */
export const RETIRED_ACCESS_ENTITIES = {
  rowPolicies: ["tenant_isolation"],
  quotas: PLAN_TIER_NAMES_FOR_RETIRED.map((t) => `tenant_${t}_quota`),
  profiles: PLAN_TIER_NAMES_FOR_RETIRED.map((t) => `tenant_${t}_settings`),
  roles: PLAN_TIER_NAMES_FOR_RETIRED.map((t) => `tenant_${t}`),
} as const;
