/**
 * Access control of the event store, derived from the plan-tier catalog. O(tiers): one role, one
 * settings profile and one quota per tier, and one tenant-isolation row policy per event table
 * for all tiers. Tenants' users are data: {@link tenantReaderUserSql} creates one at
 * provisioning, with a password hash the caller supplies. No password appears in any statement
 * this module synthesizes; the administrator and the ingestor are configuration users whose
 * passwords come from Kubernetes Secrets.
 *
 * Tenant isolation is enforced by ClickHouse, not by the caller: the `tenant_isolation` policy
 * filters every SELECT of a tenant role to `tenant_id = <tenant of currentUser()>`, a second
 * policy lets the administrator see every row, and everyone else is covered by neither and sees
 * nothing. `tenant_id` leads the sorting key, so the filter also prunes to the tenant's ranges,
 * and it is safe to apply before `FINAL` (copies of an event share their tenant).
 *
 * Duplicates never show: each tier's profile sets `final = 1` with a CONST constraint, so every
 * SELECT a tenant runs reads ReplacingMergeTree tables as merged, whatever SQL it sends.
 */
import { PLAN_TIER_NAMES, type PlanTier, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { ClickHouseSchemaError } from "./errors.js";
import {
  CLICKHOUSE_USERS,
  eventTables,
  qualified,
  ROW_POLICIES,
  SWARM_DATABASE,
  TENANT_USER_PREFIX,
  tenantUserName,
  tierProfileName,
  tierQuotaName,
  tierRoleName,
} from "./names.js";
import { quoteIdentifier, quoteString } from "./sql.js";

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

/** The settings of a tier's read path: the catalog's `clickhouse.profile`, plus the fixed rules of every tenant query. */
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

/** One interval of a tier's quota: the catalog's `clickhouse.quota`, in ClickHouse's resource names. */
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
 * The row filter of the tenant-isolation policy: the tenant id is the user name without its
 * `tenant_` prefix. `userName` is the SQL expression of the user name: `currentUser()` in the
 * policy (the initial user, also on the shards of a distributed query).
 */
export function tenantRowFilter(userName = "currentUser()"): string {
  return `tenant_id = replaceRegexpOne(${userName}, ${quoteString(`^${TENANT_USER_PREFIX}`)}, '')`;
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
  return { [TENANT_BINDING_SETTING]: tenantId };
}

/** A privilege on one event table. */
export interface TablePrivilege {
  readonly privilege: "SELECT" | "INSERT";
  readonly table: string;
}

/** What a tier role may do: read the event tables (rows filtered by the policy). */
export function tenantReaderPrivileges(options: AccessOptions = {}): readonly TablePrivilege[] {
  return eventTables(options.replicated ?? false).map((t) => ({ privilege: "SELECT", table: qualified(t) }));
}

/** What the ingestor may do: insert into the event tables, nothing else (no SELECT, ALTER, DROP). */
export function ingestorPrivileges(options: AccessOptions = {}): readonly TablePrivilege[] {
  return eventTables(options.replicated ?? false).map((t) => ({ privilege: "INSERT", table: qualified(t) }));
}

/** What the workers' user may do: read the event tables, nothing else (no INSERT, ALTER, DROP). */
export function workerReaderPrivileges(options: AccessOptions = {}): readonly TablePrivilege[] {
  return tenantReaderPrivileges(options);
}

/** `GRANT` statements without a grantee, as a configuration user's `grants` list takes them. */
export function grantQueries(privileges: readonly TablePrivilege[]): string[] {
  return privileges.map((p) => `GRANT ${p.privilege} ON ${p.table}`);
}

function privilegeList(privileges: readonly TablePrivilege[]): string {
  return privileges.map((p) => `${p.privilege} ON ${p.table}`).join(", ");
}

function settingsClause(settings: readonly ProfileSetting[]): string {
  return settings
    .map((s) => {
      const value = typeof s.value === "string" ? quoteString(s.value) : String(s.value);
      if (s.constraint === "CONST") return `${s.name} = ${value} CONST`;
      if (s.constraint === "MAX") return `${s.name} = ${value} MAX ${value}`;
      return `${s.name} = ${value}`;
    })
    .join(", ");
}

function quotaClause(quota: TierQuota): string {
  const limits = quota.limits.map((l) => `${l.resource} = ${l.max}`).join(", ");
  return `KEYED BY user_name FOR INTERVAL ${quota.intervalSeconds} SECOND MAX ${limits}`;
}

/**
 * The access-control DDL, in order: roles, settings profiles, quotas, row policies, and last the
 * grants (so no role can read before its policy exists). Idempotent and converging:
 * roles `IF NOT EXISTS` (users hold them by id), profiles created then altered in place (one
 * atomic change: `final = 1` is never missing), quotas and policies replaced (nothing refers
 * to them; while a tenant policy is replaced the administrator's policy still exists, so tenant
 * roles see nothing rather than everything), grants `WITH REPLACE OPTION`. Run on one host: the
 * replicated user directory carries it to every host (so never `ON CLUSTER`).
 */
export function accessControlSql(catalog: TierCatalog, options: AccessOptions = {}): string[] {
  const tables = eventTables(options.replicated ?? false).map(qualified);
  const roles = PLAN_TIER_NAMES.map(tierRoleName);
  const out: string[] = [];
  for (const tier of PLAN_TIER_NAMES) out.push(`CREATE ROLE IF NOT EXISTS ${tierRoleName(tier)}`);
  for (const tier of PLAN_TIER_NAMES) {
    const definition = `SETTINGS ${settingsClause(tierProfileSettings(catalog[tier]))} TO ${tierRoleName(tier)}`;
    out.push(`CREATE SETTINGS PROFILE IF NOT EXISTS ${tierProfileName(tier)} ${definition}`);
    out.push(`ALTER SETTINGS PROFILE ${tierProfileName(tier)} ${definition}`);
  }
  for (const tier of PLAN_TIER_NAMES) {
    out.push(`CREATE QUOTA OR REPLACE ${tierQuotaName(tier)} ${quotaClause(tierQuota(catalog[tier]))} TO ${tierRoleName(tier)}`);
  }
  for (const table of tables) {
    out.push(`CREATE ROW POLICY OR REPLACE ${ROW_POLICIES.platformAdmin} ON ${table} AS PERMISSIVE FOR SELECT USING 1 TO ${CLICKHOUSE_USERS.admin}`);
    out.push(`CREATE ROW POLICY OR REPLACE ${ROW_POLICIES.workers} ON ${table} AS PERMISSIVE FOR SELECT USING ${boundTenantRowFilter()} TO ${CLICKHOUSE_USERS.workers}`);
    out.push(`CREATE ROW POLICY OR REPLACE ${ROW_POLICIES.tenantIsolation} ON ${table} AS PERMISSIVE FOR SELECT USING ${tenantRowFilter()} TO ${roles.join(", ")}`);
  }
  for (const tier of PLAN_TIER_NAMES) {
    out.push(`GRANT ${privilegeList(tenantReaderPrivileges(options))} TO ${tierRoleName(tier)} WITH REPLACE OPTION`);
  }
  return out;
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

function checkTier(tier: unknown): PlanTierName {
  if (typeof tier !== "string" || !(PLAN_TIER_NAMES as readonly string[]).includes(tier)) {
    throw new ClickHouseSchemaError("tier", tier, "is not a plan tier", `use one of ${PLAN_TIER_NAMES.join(", ")}`);
  }
  return tier as PlanTierName;
}

/**
 * Creates (or re-tiers, or re-keys) one tenant's read-path user: `tenant_<id>`, identified by the
 * SHA-256 of its password, holding exactly its tier's role. Run by the provisioning service at
 * registration and on a plan change; the tenant id is checked with `assertTenantId` first, so it
 * can never smuggle SQL. Idempotent.
 */
export function tenantReaderUserSql(tenantId: string, tier: PlanTierName, passwordSha256Hex: string): string[] {
  const user = quoteIdentifier(tenantUserName(tenantId));
  const role = tierRoleName(checkTier(tier));
  if (typeof passwordSha256Hex !== "string" || !SHA256_HEX.test(passwordSha256Hex)) {
    throw new ClickHouseSchemaError(
      "passwordSha256Hex",
      typeof passwordSha256Hex === "string" ? `<${passwordSha256Hex.length} characters>` : passwordSha256Hex,
      "is not a SHA-256 digest in hex",
      "pass the 64 hex digits of sha256(password), never the password",
    );
  }
  const identified = `IDENTIFIED WITH sha256_hash BY ${quoteString(passwordSha256Hex.toLowerCase())} DEFAULT DATABASE ${SWARM_DATABASE}`;
  const otherRoles = PLAN_TIER_NAMES.filter((t) => t !== tier).map(tierRoleName);
  return [
    `CREATE USER IF NOT EXISTS ${user} ${identified}`,
    `ALTER USER ${user} ${identified}`,
    `REVOKE ${otherRoles.join(", ")} FROM ${user}`,
    `GRANT ${role} TO ${user}`,
    `ALTER USER ${user} DEFAULT ROLE ${role}`,
  ];
}

/** Removes a tenant's read-path user (tenant deletion). */
export function dropTenantReaderUserSql(tenantId: string): string[] {
  return [`DROP USER IF EXISTS ${quoteIdentifier(tenantUserName(tenantId))}`];
}
