/**
 * The ingestor's questions to the plan and usage tables, and its one write there: what each tenant
 * of a batch is entitled to and has used ({@link tenantPolicyQuery}), and the events it refused
 * ({@link tenantRefusalsInsert}). Values are bound by the server (`{name:Type}` placeholders,
 * `query_params`), never spliced into the text.
 *
 * Lists travel as one comma-separated `String` parameter, split by the server: tenant ids and
 * 'YYYY-MM-DD' days cannot contain a comma, the parameter stays a plain string on every path
 * (HTTP URL parameter, embedded engine), and `IN (SELECT arrayJoin(…))` still prunes by the
 * primary key (`tenant_id` leads both tables' sorting keys).
 */
import { assertTenantId } from "../../config/tenancy.js";
import { ClickHouseSchemaError } from "./errors.js";
import { qualified, TENANT_PLANS_TABLE, TENANT_USAGE_TABLE } from "./names.js";
import type { BoundQuery } from "./queries.js";
import { TENANT_USAGE_COLUMNS } from "./table.js";

/**
 * Most tenants one {@link tenantPolicyQuery} names. The HTTP interface carries parameters in the
 * URL (`param_tenants=…`), and a server takes URIs up to `http_max_uri_size` (1 MiB by default):
 * 2,000 ids of at most 63 characters stay under 130 KiB. A caller with more tenants sends
 * several queries.
 */
export const MAX_TENANTS_PER_LOOKUP = 2_000;
/** Most UTC days one lookup names (a batch spans one day, two around midnight). */
export const MAX_DAYS_PER_LOOKUP = 7;

const IN_TENANTS = "tenant_id IN (SELECT arrayJoin(splitByChar(',', {tenants:String})))";

/**
 * Each named tenant's plan row (`kind = 'plan'`; none for a tenant without one) and its stored
 * events on each named day (`kind = 'usage'`; none for a day without any), in one round trip.
 * Plans are read `FINAL`, so the latest row of a tenant (ReplacingMergeTree by `updated_at`) is
 * the one returned even before a merge; usage is summed over the SummingMergeTree's unmerged rows.
 * Both tables are sharded by tenant, so both are exact on a cluster.
 */
export const TENANT_POLICY_SQL = `SELECT 'plan' AS kind, tenant_id, toString(plan_tier) AS plan_tier, toString(status) AS status, toDate(0) AS day, toUInt64(0) AS events
FROM ${qualified(TENANT_PLANS_TABLE)} FINAL
WHERE ${IN_TENANTS}
UNION ALL
SELECT 'usage' AS kind, tenant_id, '' AS plan_tier, '' AS status, day, sum(events) AS events
FROM ${qualified(TENANT_USAGE_TABLE)}
WHERE ${IN_TENANTS}
  AND day IN (SELECT arrayJoin(arrayMap(d -> toDate(d), splitByChar(',', {days:String}))))
GROUP BY tenant_id, day`;

/** A row of {@link TENANT_POLICY_SQL} in JSONEachRow. */
export interface TenantPolicyRow {
  readonly kind: "plan" | "usage";
  readonly tenant_id: string;
  /** Plan rows: the tier as the provisioning service wrote it ('' in usage rows). */
  readonly plan_tier: string;
  /** Plan rows: 'active' or 'offboarded' ('' in usage rows). */
  readonly status: string;
  /** Usage rows: the UTC day, 'YYYY-MM-DD'. */
  readonly day: string;
  /** Usage rows: events stored that day. A UInt64: a JSON number, or a string where the server quotes 64-bit integers. */
  readonly events: number | string;
}

export interface TenantPolicyParams {
  /** 1 to {@link MAX_TENANTS_PER_LOOKUP} tenant ids. */
  readonly tenants: readonly string[];
  /** 1 to {@link MAX_DAYS_PER_LOOKUP} UTC days, 'YYYY-MM-DD'. */
  readonly days: readonly string[];
}

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** `value` if it is a real UTC day 'YYYY-MM-DD'; a {@link ClickHouseSchemaError} naming `field` otherwise. */
export function checkDay(field: string, value: unknown): string {
  if (typeof value !== "string" || !DAY_PATTERN.test(value) || new Date(`${value}T00:00:00.000Z`).toISOString().slice(0, 10) !== value) {
    throw new ClickHouseSchemaError(field, value, "is not a day", "pass a UTC day as 'YYYY-MM-DD', e.g. '2026-12-04'");
  }
  return value;
}

function checkList(field: string, values: readonly string[], max: number, check: (v: unknown, i: number) => string): string {
  if (!Array.isArray(values) || values.length === 0 || values.length > max) {
    throw new ClickHouseSchemaError(field, Array.isArray(values) ? `${values.length} values` : values, `is not a list of 1 to ${max} values`, max === MAX_TENANTS_PER_LOOKUP ? `split the tenants into lookups of at most ${max}` : `pass 1 to ${max} values`);
  }
  return values.map(check).join(",");
}

/** The plans and usage of `tenants` on `days`, bound ({@link TENANT_POLICY_SQL}). */
export function tenantPolicyQuery(p: TenantPolicyParams): BoundQuery {
  return {
    query: TENANT_POLICY_SQL,
    query_params: {
      tenants: checkList("tenants", p.tenants, MAX_TENANTS_PER_LOOKUP, (v, i) => assertTenantId(v, `tenants[${i}]`)),
      days: checkList("days", p.days, MAX_DAYS_PER_LOOKUP, (v, i) => checkDay(`days[${i}]`, v)),
    },
  };
}

/** The columns of a usage insert: every column of {@link TENANT_USAGE_TABLE}, in table order. */
export const TENANT_USAGE_INSERT_COLUMNS = TENANT_USAGE_COLUMNS.map((c) => c.name) as [string, ...string[]];

/** A row of {@link TENANT_USAGE_TABLE} as inserted (JSONEachRow); the table sums rows of one (tenant, day). */
export interface TenantUsageRow {
  readonly tenant_id: string;
  readonly day: string;
  readonly events: number;
  readonly rejected_quota: number;
  readonly rejected_expired: number;
}

/** Events of one tenant and day the ingestor refused, by reason. */
export interface TenantRefusals {
  readonly tenantId: string;
  /** The UTC day of the events' stream time, 'YYYY-MM-DD' (the quota's day). */
  readonly day: string;
  /** Refused over the tier's `events.perDay`. */
  readonly quota: number;
  /** Refused as older than the tier's `retentionDays`. */
  readonly expired: number;
}

/**
 * Settings of a usage insert: deduplicated by its token (a refused batch that is redelivered
 * and refused the same way is counted once), and on a cluster written to the shards before the
 * insert returns (the ingestor terminates the refused messages only after that).
 */
export const TENANT_USAGE_INSERT_SETTINGS = {
  insert_deduplicate: 1,
  distributed_foreground_insert: 1,
} as const;

/** An insert in the shape `client.insert(…)` takes. */
export interface UsageInsert {
  readonly table: string;
  readonly columns: [string, ...string[]];
  readonly format: "JSONEachRow";
  readonly values: TenantUsageRow[];
  readonly clickhouse_settings: typeof TENANT_USAGE_INSERT_SETTINGS & { readonly insert_deduplication_token: string };
}

const MAX_TOKEN_LENGTH = 256;

/**
 * The insert that counts refused events into {@link TENANT_USAGE_TABLE} (`events` = 0: the
 * stored events are counted by the table's view). `token`: the insert's deduplication token,
 * which must be unique per set of refused messages (e.g. from their stream sequences): without
 * one, two batches refusing the same counts would be identical blocks, and the second dropped.
 */
export function tenantRefusalsInsert(refusals: readonly TenantRefusals[], token: string): UsageInsert {
  if (!Array.isArray(refusals) || refusals.length === 0) throw new ClickHouseSchemaError("refusals", refusals, "is empty", "pass at least one tenant's refused events");
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
    throw new ClickHouseSchemaError("token", token, `is not a deduplication token of 1-${MAX_TOKEN_LENGTH} characters`, "derive it from the refused messages' stream sequences");
  }
  const values = refusals.map((r, i): TenantUsageRow => {
    const count = (field: "quota" | "expired") => {
      const v = r[field];
      if (!Number.isSafeInteger(v) || v < 0) throw new ClickHouseSchemaError(`refusals[${i}].${field}`, v, "is not a count", "pass a whole number of 0 or more");
      return v;
    };
    const quota = count("quota");
    const expired = count("expired");
    if (quota + expired === 0) throw new ClickHouseSchemaError(`refusals[${i}]`, r, "refuses nothing", "leave out tenants without refused events");
    return { tenant_id: assertTenantId(r.tenantId, `refusals[${i}].tenantId`), day: checkDay(`refusals[${i}].day`, r.day), events: 0, rejected_quota: quota, rejected_expired: expired };
  });
  return {
    table: qualified(TENANT_USAGE_TABLE),
    columns: TENANT_USAGE_INSERT_COLUMNS,
    format: "JSONEachRow",
    values,
    clickhouse_settings: { ...TENANT_USAGE_INSERT_SETTINGS, insert_deduplication_token: token },
  };
}
