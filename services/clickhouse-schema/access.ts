/**
 * Access control of the event store, derived from the plan-tier catalog. O(tiers), and nothing
 * per tenant: no ClickHouse user, role or quota per tenant (a million users in the replicated user
 * directory is the wrong shape). Tenants read through the events API, which queries as its
 * tier's reader (`readerUserName(tier)`: a configuration user whose password comes from a
 * Kubernetes Secret, with the tier's settings profile and quota, {@link readerUsersConfig}) and
 * binds every query to the verified token's tenant ({@link readerQuerySettings}).
 *
 * Tenant isolation is enforced by ClickHouse as well as by each query's own filter: the
 * `tenant_bound_by_query` policy filters every SELECT of a reader to `tenant_id = <the query's
 * binding>`, so a query that forgot its tenant filter returns nothing of other tenants, and an
 * unbound one returns nothing. The administrator and the platform's services have their own
 * policies; a user no policy covers reads no row (the server setting
 * `users_without_row_policies_can_read_rows = false`).
 *
 * Duplicates never show: each reader profile sets `final = 1` with a CONST constraint, so every
 * SELECT reads ReplacingMergeTree tables as merged, whatever SQL it sends.
 */
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTier, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { CLICKHOUSE_USERS, eventTables, planTables, qualified, readerUserName, RETIRED_ACCESS_ENTITIES, ROW_POLICIES, usageTables, tierProfileName, tierQuotaName } from "./names.js";
import { quoteString } from "./sql.js";

const BYTES_PER_MIB = 1024 * 1024;

export interface AccessOptions {
  /** Grant and filter the per-shard tables too (see `EventStoreOptions.replicated`). @default false */
  readonly replicated?: boolean;
}

/** One setting of a settings profile: its value and how far a user may move it. */
export interface ProfileSetting {
  readonly name: string;
  readonly value: number | string;
  /** `CONST`: may not be changed. `MAX`: may be lowered, never raised. @default - changeable */
  readonly constraint?: "CONST" | "MAX";
}

/** The settings of a tier's reader: the catalog's `clickhouse.profile`, plus the fixed rules of every tenant query. */
export function tierProfileSettings(tier: PlanTier): readonly ProfileSetting[] {
  const p = tier.clickhouse.profile;
  return [
    // Every ReplacingMergeTree table is read as merged: a redelivered event never shows twice.
    { name: "final", value: 1, constraint: "CONST" },
    // Reads only (settings may change within their constraints).
    { name: "readonly", value: 2 },
    { name: "max_memory_usage", value: p.maxMemoryUsageMiB * BYTES_PER_MIB, constraint: "MAX" },
    { name: "max_execution_time", value: p.maxExecutionTimeSeconds, constraint: "MAX" },
    { name: "max_threads", value: p.maxThreads, constraint: "MAX" },
    { name: "max_result_rows", value: p.maxResultRows, constraint: "MAX" },
    { name: "result_overflow_mode", value: "throw", constraint: "CONST" },
    { name: "max_concurrent_queries_for_user", value: p.maxConcurrentQueries, constraint: "MAX" },
    // A query that names its tenant reads one shard only.
    { name: "optimize_skip_unused_shards", value: 1 },
    // FINAL per partition is exact: copies of an event share `timestamp`, hence the partition.
    { name: "do_not_merge_across_partitions_select_final", value: 1 },
  ];
}

/**
 * One interval of a tier's quota: the catalog's `clickhouse.quota`, in ClickHouse's resource
 * names. Keyed by the quota key each query carries (its tenant, {@link readerQuerySettings}), so
 * each tenant is counted on its own under its tier's reader.
 */
export interface TierQuota {
  readonly intervalSeconds: number;
  readonly limits: readonly { readonly resource: "queries" | "result_rows" | "read_rows" | "execution_time"; readonly max: number }[];
}

export function tierQuota(tier: PlanTier): TierQuota {
  const q = tier.clickhouse.quota;
  return {
    intervalSeconds: q.intervalSeconds,
    limits: [
      { resource: "queries", max: q.queries },
      { resource: "result_rows", max: q.resultRows },
      { resource: "read_rows", max: q.readRows },
      { resource: "execution_time", max: q.executionTimeSeconds },
    ],
  };
}

/**
 * The setting a platform service's query carries its tenant in, read by the workers' row policy
 * ({@link boundTenantRowFilter}). `log_comment` is a built-in string setting every ClickHouse
 * accepts per query (also the embedded engine, which refuses custom `SQL_*` settings), passed to
 * the shards of a distributed query, and written to `system.query_log`, so each query is also
 * tagged with its tenant there. Unset, it is '' and matches no row: an unbound query reads nothing.
 */
export const TENANT_BINDING_SETTING = "log_comment";

/** The row filter of a service whose every query is bound to one tenant ({@link tenantBinding}). */
export function boundTenantRowFilter(): string {
  return `tenant_id = getSetting(${quoteString(TENANT_BINDING_SETTING)})`;
}

/** The per-query settings that bind a query to `tenantId` for {@link boundTenantRowFilter}. */
export function tenantBinding(tenantId: string): { readonly [TENANT_BINDING_SETTING]: string } {
  return { [TENANT_BINDING_SETTING]: assertTenantId(tenantId) };
}

/** The quota key of a query: the tenant each reader's quota counts it under. */
export const QUOTA_KEY_SETTING = "quota_key";

/**
 * The settings of every events-API query of `tenantId`: bound to it for the row policy, counted
 * under it by the tier's quota. The HTTP interface takes `quota_key` as a parameter beside the
 * settings; the embedded engine has no per-query quota key (its quota counts every query).
 */
export function readerQuerySettings(tenantId: string): { readonly [TENANT_BINDING_SETTING]: string; readonly [QUOTA_KEY_SETTING]: string } {
  return { ...tenantBinding(tenantId), [QUOTA_KEY_SETTING]: assertTenantId(tenantId) };
}

/** A privilege on one event table. */
export interface TablePrivilege {
  readonly privilege: "SELECT" | "INSERT" | "ALTER DELETE" | "CLUSTER";
  readonly table: string;
  /** Only these columns. @default - every column */
  readonly columns?: readonly string[];
}

/**
 * The event-table columns the usage view reads from each inserted block. A view pushes with the
 * rights (grants and row policies) of the user who inserts where it runs as the invoker (the
 * embedded engine always does), so the ingestor holds `SELECT` on exactly these two columns and
 * the all-rows policy: it can count rows per tenant and day, never read an event's content.
 */
export const USAGE_VIEW_SOURCE_COLUMNS = ["tenant_id", "ingested_at"] as const;

/** What a tier's reader may do: read the event and usage tables (rows filtered by the bound policy). */
export function readerPrivileges(options: AccessOptions = {}): readonly TablePrivilege[] {
  const replicated = options.replicated ?? false;
  return [...eventTables(replicated), ...usageTables(replicated)].map((t) => ({ privilege: "SELECT", table: qualified(t) }));
}

/**
 * What the ingestor may do: insert into the event tables and the usage tables (the events it
 * refused), and read usage and plans (each tenant's allowance and what it used); no ALTER, DROP,
 * and no SELECT of events.
 */
export function ingestorPrivileges(options: AccessOptions = {}): readonly TablePrivilege[] {
  const replicated = options.replicated ?? false;
  return [
    ...eventTables(replicated).map((t) => ({ privilege: "INSERT", table: qualified(t) }) as const),
    ...eventTables(replicated).map((t) => ({ privilege: "SELECT", table: qualified(t), columns: USAGE_VIEW_SOURCE_COLUMNS }) as const),
    ...usageTables(replicated).map((t) => ({ privilege: "INSERT", table: qualified(t) }) as const),
    ...[...usageTables(replicated), ...planTables(replicated)].map((t) => ({ privilege: "SELECT", table: qualified(t) }) as const),
  ];
}

/** What the workers' user may do: read the event tables, nothing else (no INSERT, ALTER, DROP). */
export function workerReaderPrivileges(options: AccessOptions = {}): readonly TablePrivilege[] {
  return eventTables(options.replicated ?? false).map((t) => ({ privilege: "SELECT", table: qualified(t) }));
}

/**
 * What the provisioning service's lifecycle user may do: write plans, and find and delete an
 * offboarded tenant's event and usage rows (lightweight `DELETE` needs `ALTER DELETE`; in the
 * replicated topology it runs `ON CLUSTER`, which needs the global `CLUSTER` privilege). No DROP,
 * no TRUNCATE, no other ALTER.
 */
export function lifecyclePrivileges(options: AccessOptions = {}): readonly TablePrivilege[] {
  const replicated = options.replicated ?? false;
  const tenantRows = [...eventTables(replicated), ...usageTables(replicated)].map(qualified);
  return [
    ...planTables(replicated).flatMap((t) => [{ privilege: "INSERT", table: qualified(t) } as const, { privilege: "SELECT", table: qualified(t) } as const]),
    ...tenantRows.flatMap((t) => [{ privilege: "SELECT", table: t } as const, { privilege: "ALTER DELETE", table: t } as const]),
    ...(replicated ? [{ privilege: "CLUSTER", table: "*.*" } as const] : []),
  ];
}

/** `GRANT` statements without a grantee, as a configuration user's `grants` list takes them. */
export function grantQueries(privileges: readonly TablePrivilege[]): string[] {
  return privileges.map((p) => `GRANT ${p.privilege}${p.columns ? `(${p.columns.join(", ")})` : ""} ON ${p.table}`);
}

/** A tier's reader as configuration: its user, settings profile (with constraints) and keyed quota. */
export interface ReaderUserConfig {
  readonly tier: PlanTierName;
  readonly user: string;
  readonly profile: string;
  readonly settings: readonly ProfileSetting[];
  readonly quotaName: string;
  readonly quota: TierQuota;
  /** `GRANT` statements without a grantee (a configuration user's `grants` list). */
  readonly grants: readonly string[];
}

/** The three readers, from the catalog: what the ClickHouse installation and the embedded engine configure. */
export function readerUsersConfig(catalog: TierCatalog, options: AccessOptions = {}): readonly ReaderUserConfig[] {
  return PLAN_TIER_NAMES.map((tier) => ({
    tier,
    user: readerUserName(tier),
    profile: tierProfileName(tier),
    settings: tierProfileSettings(catalog[tier]),
    quotaName: tierQuotaName(tier),
    quota: tierQuota(catalog[tier]),
    grants: grantQueries(readerPrivileges(options)),
  }));
}

/**
 * The access-control DDL: the row policies of every table a principal reads, and the drop of
 * the entities earlier migrations created in SQL. Idempotent and converging: policies replaced
 * (nothing refers to them; while a reader's policy is replaced the administrator's still exists,
 * so readers see nothing rather than everything), retired entities dropped `IF EXISTS`. Users,
 * their profiles, quotas and grants are configuration (the ClickHouse installation's users), so
 * no statement here holds a password. Run on one host: the replicated user directory carries it
 * to every host (so never `ON CLUSTER`).
 */
export function accessControlSql(catalog: TierCatalog, options: AccessOptions = {}): string[] {
  void catalog; // the readers' limits are configuration (readerUsersConfig); kept for one signature with migrationSql
  const replicated = options.replicated ?? false;
  const readers = PLAN_TIER_NAMES.map(readerUserName).join(", ");
  const u = CLICKHOUSE_USERS;
  const out: string[] = [];
  const policy = (name: string, table: string, using: string, to: string) => out.push(`CREATE ROW POLICY OR REPLACE ${name} ON ${qualified(table)} AS PERMISSIVE FOR SELECT USING ${using} TO ${to}`);
  for (const table of eventTables(replicated)) {
    // The ingestor: for the usage view's two columns (USAGE_VIEW_SOURCE_COLUMNS), its only SELECT grant here.
    policy(ROW_POLICIES.platformAdmin, table, "1", `${u.admin}, ${u.lifecycle}, ${u.ingestor}`);
    policy(ROW_POLICIES.workers, table, boundTenantRowFilter(), u.workers);
    policy(ROW_POLICIES.tenantIsolation, table, boundTenantRowFilter(), readers);
  }
  for (const table of usageTables(replicated)) {
    policy(ROW_POLICIES.platformAdmin, table, "1", `${u.admin}, ${u.lifecycle}, ${u.ingestor}`);
    policy(ROW_POLICIES.tenantIsolation, table, boundTenantRowFilter(), readers);
  }
  for (const table of planTables(replicated)) policy(ROW_POLICIES.platformAdmin, table, "1", `${u.admin}, ${u.lifecycle}, ${u.ingestor}`);
  for (const table of eventTables(replicated)) {
    for (const name of RETIRED_ACCESS_ENTITIES.rowPolicies) out.push(`DROP ROW POLICY IF EXISTS ${name} ON ${qualified(table)}`);
  }
  for (const name of RETIRED_ACCESS_ENTITIES.quotas) out.push(`DROP QUOTA IF EXISTS ${name}`);
  for (const name of RETIRED_ACCESS_ENTITIES.profiles) out.push(`DROP SETTINGS PROFILE IF EXISTS ${name}`);
  for (const name of RETIRED_ACCESS_ENTITIES.roles) out.push(`DROP ROLE IF EXISTS ${name}`);
  return out;
}
