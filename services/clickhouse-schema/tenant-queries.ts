/**
 * The events API's own questions (services/events-api): a tenant's timeline, one event, a
 * resource's state history, the state a replay goes back to, and the tenant's usage. One bound
 * query each, in the shape of queries.ts: values are bound by the server (`{name:Type}`
 * placeholders), never spliced into the text; the only text that varies is which fixed filter
 * clauses are present.
 *
 * Every query reads `FROM swarm_events FINAL` (or the usage table, summed) with
 * {@link TENANT_FILTER_SQL} as its first condition (the tenant leads the sorting key and the
 * sharding key), and carries {@link readerQuerySettings} of the same tenant: the tier reader's
 * row policy admits only that tenant's rows even if a query lost its filter, and the tier's
 * quota counts it under that tenant.
 *
 * Paging is by keyset on `(timestamp, event_id)`, newest first: a page asks one row more than
 * it returns, and the last row returned becomes an opaque cursor ({@link encodeCursor}); the
 * next page reads strictly below it. Rows inserted while a client pages never shift a page.
 */
import { assertTenantId } from "../../config/tenancy.js";
import { PROJECT_ID_PATTERN } from "../nats-auth/jetstream-names.js";
import { readerQuerySettings } from "./access.js";
import { checkInteger, ClickHouseSchemaError } from "./errors.js";
import { qualified, SWARM_EVENTS_TABLE, TENANT_USAGE_TABLE } from "./names.js";
import type { BoundQuery } from "./queries.js";
import { EVENT_TYPES, type AgentRole, type EventType } from "./table.js";

const EVENTS = `${qualified(SWARM_EVENTS_TABLE)} FINAL`;
const DATETIME64 = "DateTime64(6, 'UTC')";

/** The first condition of every query here: the one a test strips to show the row policy's guard. */
export const TENANT_FILTER_SQL = "tenant_id = {tenantId:String}";

/** Rows a page may ask for (the API's own bound is lower; this guards the builders). */
export const TENANT_QUERY_MAX_ROWS = 10_000;
/** A resource's name (`target_resource`): what the SDK accepts. */
export const RESOURCE_MAX_LENGTH = 1_024;
/** `state_hash`: lower-case hex SHA-256 (sdk `stateHashOf`). */
export const STATE_HASH_PATTERN = /^[0-9a-f]{64}$/;
/** `event_id`: a canonical lower-case UUID. */
export const EVENT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** `agent_id`: the ingestor's actor id rule. */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;
/** A DateTime64(6) literal as ClickHouse writes and reads it: 'YYYY-MM-DD hh:mm:ss[.ffffff]' (UTC). */
export const DATETIME64_LITERAL = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;

/** Where a page ends: the last row returned (its exact stored timestamp and its id). */
export interface PageCursor {
  /** The row's `timestamp` as ClickHouse returned it ('YYYY-MM-DD hh:mm:ss.ffffff'). */
  readonly timestamp: string;
  readonly eventId: string;
}

const CURSOR_VERSION = 1;

/** The opaque form of a cursor: base64url of `{"v":1,"t":…,"e":…}`. */
export function encodeCursor(c: PageCursor): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, t: c.timestamp, e: c.eventId }), "utf8").toString("base64url");
}

/** The cursor an opaque string holds; throws {@link ClickHouseSchemaError} naming `field` when it is not one this module made. */
export function decodeCursor(value: string, field = "cursor"): PageCursor {
  const bad = () => new ClickHouseSchemaError(field, value, "is not a cursor of this API", "pass the nextCursor of the previous page unchanged, or leave it out for the first page");
  if (typeof value !== "string" || value.length === 0 || value.length > 256 || !/^[A-Za-z0-9_-]+$/.test(value)) throw bad();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (parsed === null || typeof parsed !== "object") throw bad();
  const { v, t, e } = parsed as { v?: unknown; t?: unknown; e?: unknown };
  if (v !== CURSOR_VERSION || typeof t !== "string" || !DATETIME64_LITERAL.test(t) || typeof e !== "string" || !EVENT_ID_PATTERN.test(e)) throw bad();
  return { timestamp: t, eventId: e };
}

/** A moment as a DateTime64(6) literal: a Date, or a literal already in that form. */
function moment(field: string, value: Date | string): string {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new ClickHouseSchemaError(field, String(value), "is an invalid Date", "pass a valid Date");
    const iso = value.toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`;
  }
  if (typeof value !== "string" || !DATETIME64_LITERAL.test(value)) {
    throw new ClickHouseSchemaError(field, value, "is not a moment", "pass a Date or a UTC literal like '2025-11-21 15:00:00.000000'");
  }
  return value;
}

function projectId(value: unknown): string {
  if (typeof value !== "string" || !PROJECT_ID_PATTERN.test(value)) throw new ClickHouseSchemaError("projectId", value, "is not a project id", "use 1-128 letters, digits, '_' or '-'");
  return value;
}

function resource(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > RESOURCE_MAX_LENGTH) {
    throw new ClickHouseSchemaError("resource", value, `is not a resource of 1-${RESOURCE_MAX_LENGTH} characters`, "pass the target_resource of the state changes (a path or URI within the project)");
  }
  return value;
}

function bound(tenantId: string, query: string, params: Record<string, string | number>): BoundQuery {
  const tenant = assertTenantId(tenantId);
  return { query, query_params: { tenantId: tenant, ...params }, clickhouse_settings: readerQuerySettings(tenant) };
}

/** The keyset condition of a page after `cursor` (newest first). */
function afterCursor(cursor: PageCursor | undefined, params: Record<string, string | number>): string[] {
  if (!cursor) return [];
  params.cursorTimestamp = moment("cursor", cursor.timestamp);
  if (!EVENT_ID_PATTERN.test(cursor.eventId)) throw new ClickHouseSchemaError("cursor", cursor.eventId, "does not end at an event id", "pass the nextCursor of the previous page unchanged");
  params.cursorEventId = cursor.eventId;
  return [`timestamp <= {cursorTimestamp:${DATETIME64}}`, `(timestamp, event_id) < ({cursorTimestamp:${DATETIME64}}, {cursorEventId:UUID})`];
}

function where(conditions: readonly string[]): string {
  return `WHERE ${[TENANT_FILTER_SQL, ...conditions].join("\n  AND ")}`;
}

// ---- timeline --------------------------------------------------------------------------------

/** The columns of a timeline row: everything but the stored bytes. */
const TIMELINE_COLUMNS = [
  "event_id",
  "timestamp",
  "event_type",
  "agent_id",
  "agent_role",
  "user_id",
  "project_id",
  "is_encrypted",
  "confidence_score",
  "rationale",
  "target_resource",
  "state_hash",
  "trace_id",
  "span_id",
] as const;

/** A row of {@link timelineQuery} in JSONEachRow. */
export interface TimelineRow {
  readonly event_id: string;
  readonly timestamp: string;
  readonly event_type: EventType;
  readonly agent_id: string;
  readonly agent_role: AgentRole;
  readonly user_id: string;
  readonly project_id: string;
  readonly is_encrypted: boolean;
  readonly confidence_score: number;
  /** '' for encrypted decisions (the ingestor keeps ciphertext out of the columns) and for other event types. */
  readonly rationale: string;
  readonly target_resource: string;
  readonly state_hash: string;
  readonly trace_id: string;
  readonly span_id: string;
}

export interface TimelineParams {
  readonly tenantId: string;
  readonly projectId?: string;
  readonly agentId?: string;
  readonly eventType?: EventType;
  /** Events at or after this moment. */
  readonly from?: Date | string;
  /** Events strictly before this moment. */
  readonly to?: Date | string;
  /** Rows strictly older than this position (the previous page's last row). */
  readonly cursor?: PageCursor;
  /** Rows to read: the page size plus one (to learn whether another page follows). */
  readonly limit: number;
}

/** The tenant's events, newest first, filtered and paged. */
export function timelineQuery(p: TimelineParams): BoundQuery {
  const params: Record<string, string | number> = {};
  const conditions: string[] = [];
  if (p.projectId !== undefined) {
    params.projectId = projectId(p.projectId);
    conditions.push("project_id = {projectId:String}");
  }
  if (p.eventType !== undefined) {
    if (!(EVENT_TYPES as readonly string[]).includes(p.eventType)) throw new ClickHouseSchemaError("eventType", p.eventType, "is not an event type", `use one of ${EVENT_TYPES.join(", ")}`);
    params.eventType = p.eventType;
    conditions.push("event_type = {eventType:String}");
  }
  if (p.agentId !== undefined) {
    if (typeof p.agentId !== "string" || !AGENT_ID_PATTERN.test(p.agentId)) throw new ClickHouseSchemaError("agentId", p.agentId, "is not an agent id", "use 1-128 letters, digits and _ . : @ -, starting with a letter or digit");
    params.agentId = p.agentId;
    conditions.push("agent_id = {agentId:String}");
  }
  if (p.from !== undefined) {
    params.from = moment("from", p.from);
    conditions.push(`timestamp >= {from:${DATETIME64}}`);
  }
  if (p.to !== undefined) {
    params.to = moment("to", p.to);
    conditions.push(`timestamp < {to:${DATETIME64}}`);
  }
  conditions.push(...afterCursor(p.cursor, params));
  params.limit = checkInteger("limit", p.limit, 1, TENANT_QUERY_MAX_ROWS);
  return bound(
    p.tenantId,
    `SELECT\n    ${TIMELINE_COLUMNS.join(",\n    ")}\nFROM ${EVENTS}\n${where(conditions)}\nORDER BY timestamp DESC, event_id DESC\nLIMIT {limit:UInt32}`,
    params,
  );
}

// ---- one event -------------------------------------------------------------------------------

/** A row of {@link eventQuery}: the timeline's columns, when it was stored, and the stored event bytes. */
export interface EventRow extends TimelineRow {
  readonly ingested_at: string;
  /** The serialized SwarmEvent as the agent sent it (base64). */
  readonly raw_proto_base64: string;
}

/** One of the tenant's events by id (no row when it is not the tenant's). */
export function eventQuery(p: { readonly tenantId: string; readonly eventId: string }): BoundQuery {
  if (typeof p.eventId !== "string" || !EVENT_ID_PATTERN.test(p.eventId)) throw new ClickHouseSchemaError("eventId", p.eventId, "is not a canonical lower-case UUID", "pass the event_id of the event");
  return bound(
    p.tenantId,
    `SELECT\n    ${TIMELINE_COLUMNS.join(",\n    ")},\n    ingested_at,\n    base64Encode(raw_proto) AS raw_proto_base64\nFROM ${EVENTS}\n${where(["event_id = {eventId:UUID}"])}\nLIMIT 1`,
    { eventId: p.eventId },
  );
}

// ---- a resource's states ---------------------------------------------------------------------

/** A row of {@link stateHistoryQuery} and of the replay lookups: one state change of the resource. */
export interface StateChangeRow {
  readonly event_id: string;
  readonly timestamp: string;
  readonly agent_id: string;
  readonly agent_role: AgentRole;
  readonly user_id: string;
  /** The state after the change ('' when the change deleted the resource). */
  readonly state_hash: string;
  readonly is_encrypted: boolean;
}

const STATE_COLUMNS = "event_id, timestamp, agent_id, agent_role, user_id, state_hash, is_encrypted";

function stateConditions(p: { readonly projectId: string; readonly resource: string }, params: Record<string, string | number>): string[] {
  params.projectId = projectId(p.projectId);
  params.resource = resource(p.resource);
  return ["event_type = 'state_change'", "project_id = {projectId:String}", "target_resource = {resource:String}"];
}

export interface StateHistoryParams {
  readonly tenantId: string;
  readonly projectId: string;
  readonly resource: string;
  readonly cursor?: PageCursor;
  /** Rows to read: the page size plus one. */
  readonly limit: number;
}

/** Every state change of one resource of a project, newest first, paged. */
export function stateHistoryQuery(p: StateHistoryParams): BoundQuery {
  const params: Record<string, string | number> = {};
  const conditions = [...stateConditions(p, params), ...afterCursor(p.cursor, params)];
  params.limit = checkInteger("limit", p.limit, 1, TENANT_QUERY_MAX_ROWS);
  return bound(p.tenantId, `SELECT ${STATE_COLUMNS}\nFROM ${EVENTS}\n${where(conditions)}\nORDER BY timestamp DESC, event_id DESC\nLIMIT {limit:UInt32}`, params);
}

/** The latest state change of the resource that left it in `stateHash` (no row when it never was). */
export function stateByHashQuery(p: { readonly tenantId: string; readonly projectId: string; readonly resource: string; readonly stateHash: string }): BoundQuery {
  if (typeof p.stateHash !== "string" || !STATE_HASH_PATTERN.test(p.stateHash)) throw new ClickHouseSchemaError("stateHash", p.stateHash, "is not a state hash", "pass 64 lower-case hex digits (SHA-256), as the state changes carry it");
  const params: Record<string, string | number> = { stateHash: p.stateHash };
  const conditions = [...stateConditions(p, params), "state_hash = {stateHash:String}"];
  return bound(p.tenantId, `SELECT ${STATE_COLUMNS}\nFROM ${EVENTS}\n${where(conditions)}\nORDER BY timestamp DESC, event_id DESC\nLIMIT 1`, params);
}

/** The last state change of the resource at or before `at` (no row when the resource had none yet). */
export function stateAtQuery(p: { readonly tenantId: string; readonly projectId: string; readonly resource: string; readonly at: Date | string }): BoundQuery {
  const params: Record<string, string | number> = { at: moment("at", p.at) };
  const conditions = [...stateConditions(p, params), `timestamp <= {at:${DATETIME64}}`];
  return bound(p.tenantId, `SELECT ${STATE_COLUMNS}\nFROM ${EVENTS}\n${where(conditions)}\nORDER BY timestamp DESC, event_id DESC\nLIMIT 1`, params);
}

/** A row of {@link knownHashesQuery}. */
export interface KnownHashRow {
  readonly state_hash: string;
  /** When the resource last entered this state. */
  readonly last_seen: string;
  readonly changes: number;
}

/** The states the resource has been in (deletions aside), most recently entered first, at most `limit`. */
export function knownHashesQuery(p: { readonly tenantId: string; readonly projectId: string; readonly resource: string; readonly limit: number }): BoundQuery {
  const params: Record<string, string | number> = {};
  const conditions = [...stateConditions(p, params), "state_hash != ''"];
  params.limit = checkInteger("limit", p.limit, 1, 1_000);
  return bound(
    p.tenantId,
    `SELECT state_hash, max(timestamp) AS last_seen, toUInt32(count()) AS changes\nFROM ${EVENTS}\n${where(conditions)}\nGROUP BY state_hash\nORDER BY last_seen DESC, state_hash\nLIMIT {limit:UInt32}`,
    params,
  );
}

// ---- usage -----------------------------------------------------------------------------------

/** A row of {@link usageQuery}: UInt64 sums (JSON strings on servers that quote 64-bit integers). */
export interface UsageRow {
  readonly events_today: string | number;
  readonly events_month: string | number;
  readonly rejected_quota_today: string | number;
  readonly rejected_quota_month: string | number;
  readonly rejected_expired_today: string | number;
  readonly rejected_expired_month: string | number;
}

/**
 * The tenant's stored and refused events on the UTC day `today` and in its month so far, from
 * the usage table (a SummingMergeTree: rows of one day are summed, whether merged or not).
 */
export function usageQuery(p: { readonly tenantId: string; readonly today: Date }): BoundQuery {
  if (!(p.today instanceof Date) || Number.isNaN(p.today.getTime())) throw new ClickHouseSchemaError("today", String(p.today), "is not a valid Date", "pass the moment whose UTC day is today");
  const today = p.today.toISOString().slice(0, 10);
  const sums = (column: string) => [`sumIf(${column}, day = {today:Date}) AS ${column}_today`, `sum(${column}) AS ${column}_month`];
  return bound(
    p.tenantId,
    `SELECT\n    ${[...sums("events"), ...sums("rejected_quota"), ...sums("rejected_expired")].join(",\n    ")}\nFROM ${qualified(TENANT_USAGE_TABLE)}\n${where(["day >= toStartOfMonth({today:Date})", "day <= {today:Date}"])}`,
    { today },
  );
}
