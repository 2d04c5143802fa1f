/**
 * The seed conversation's two questions, one parameterized query each. Values are bound by the
 * server (`{name:Type}` placeholders, `query_params` in @clickhouse/client), never spliced into
 * the text. Both name their tenant (which lets a sharded cluster read one shard) and read the
 * table `FINAL`, so every event counts once even for a caller without the tenant profile's
 * `final = 1`; the tenant-isolation row policy still decides which rows exist for the caller, so
 * a tenant that names another tenant's id gets nothing.
 */
import { assertTenantId } from "../../config/tenancy.js";
import { PROJECT_ID_PATTERN } from "../nats-auth/jetstream-names.js";
import { checkInteger, ClickHouseSchemaError } from "./errors.js";
import { tenantBinding } from "./access.js";
import { qualified, SWARM_EVENTS_TABLE } from "./names.js";
import { formatDateTime64, type AgentRole } from "./table.js";
import { EVENT_ID_PATTERN, RESOURCE_MAX_LENGTH, STATE_HASH_PATTERN } from "./tenant-queries.js";

const EVENTS = `${qualified(SWARM_EVENTS_TABLE)} FINAL`;
const DATETIME64 = "DateTime64(6, 'UTC')";

/** Crash context: the last N decisions of one agent before a moment, newest first, with their rationale. */
export const CRASH_CONTEXT_SQL = `SELECT
    timestamp,
    event_id,
    agent_id,
    agent_role,
    confidence_score,
    rationale,
    trace_id,
    span_id
FROM ${EVENTS}
WHERE tenant_id = {tenantId:String}
  AND event_type = 'decision'
  AND agent_id = {agentId:String}
  AND timestamp < {before:${DATETIME64}}
ORDER BY timestamp DESC, event_id DESC
LIMIT {limit:UInt32}`;

/** Hallucination loops: resources of a project modified more than K times in a window. */
export const HALLUCINATION_LOOPS_SQL = `SELECT
    project_id,
    target_resource,
    toUInt32(count()) AS modifications,
    toUInt32(uniqExact(agent_id)) AS agents,
    min(timestamp) AS first_modified,
    max(timestamp) AS last_modified
FROM ${EVENTS}
WHERE tenant_id = {tenantId:String}
  AND event_type = 'state_change'
  AND timestamp >= {until:${DATETIME64}} - toIntervalSecond({windowSeconds:UInt32})
  AND timestamp < {until:${DATETIME64}}
GROUP BY project_id, target_resource
HAVING modifications > {minModifications:UInt32}
ORDER BY modifications DESC, project_id, target_resource
LIMIT {limit:UInt32}`;

/**
 * Recent changes: per resource of one project under a path prefix, its state changes in a
 * window, the agents that made them and the state it was left in (the worker's `changes.digest`).
 */
export const RECENT_CHANGES_SQL = `SELECT
    target_resource,
    toUInt32(count()) AS changes,
    toUInt32(uniqExact(agent_id)) AS agents,
    max(timestamp) AS last_changed,
    argMax(state_hash, timestamp) AS last_state_hash,
    argMax(agent_id, timestamp) AS last_agent
FROM ${EVENTS}
WHERE tenant_id = {tenantId:String}
  AND project_id = {projectId:String}
  AND event_type = 'state_change'
  AND startsWith(target_resource, {prefix:String})
  AND timestamp >= {until:${DATETIME64}} - toIntervalSecond({windowSeconds:UInt32})
  AND timestamp < {until:${DATETIME64}}
GROUP BY target_resource
ORDER BY changes DESC, target_resource
LIMIT {limit:UInt32}`;

/** A row of {@link RECENT_CHANGES_SQL} in JSONEachRow. */
export interface RecentChangesRow {
  readonly target_resource: string;
  readonly changes: number;
  readonly agents: number;
  readonly last_changed: string;
  readonly last_state_hash: string;
  readonly last_agent: string;
}

export interface RecentChangesParams {
  readonly tenantId: string;
  readonly projectId: string;
  /** Resources starting with this (a path, `src/`); "" = every resource. */
  readonly prefix: string;
  readonly until: Date | string;
  readonly windowSeconds: number;
  /** @default 20 */
  readonly limit?: number;
}

/** A row of {@link CRASH_CONTEXT_SQL} in JSONEachRow. */
export interface CrashContextRow {
  readonly timestamp: string;
  readonly event_id: string;
  readonly agent_id: string;
  readonly agent_role: AgentRole;
  readonly confidence_score: number;
  readonly rationale: string;
  readonly trace_id: string;
  readonly span_id: string;
}

/** A row of {@link HALLUCINATION_LOOPS_SQL} in JSONEachRow (counts are UInt32: JSON numbers on every server). */
export interface HallucinationLoopRow {
  readonly project_id: string;
  readonly target_resource: string;
  readonly modifications: number;
  readonly agents: number;
  readonly first_modified: string;
  readonly last_modified: string;
}

/** A query with its server-bound parameters, in the shape `client.query({ ...q, format })` takes. */
export interface BoundQuery {
  readonly query: string;
  readonly query_params: Readonly<Record<string, string | number>>;
  /** The tenant binding the engine's row policy checks, where the reader is a platform service (`tenantBinding`). */
  readonly clickhouse_settings?: Readonly<Record<string, string>>;
}

export interface CrashContextParams {
  readonly tenantId: string;
  readonly agentId: string;
  /** Decisions strictly before this moment (the crash). A Date, or a 'YYYY-MM-DD hh:mm:ss[.ffffff]' UTC literal. */
  readonly before: Date | string;
  /** How many decisions. @default 10 */
  readonly limit?: number;
}

export interface HallucinationLoopParams {
  readonly tenantId: string;
  /** End of the window (exclusive), usually now. A Date, or a 'YYYY-MM-DD hh:mm:ss[.ffffff]' UTC literal. */
  readonly until: Date | string;
  /** Length of the window. @default 3600 (the last hour) */
  readonly windowSeconds?: number;
  /** Report resources modified more than this many times. @default 5 */
  readonly minModifications?: number;
  /** At most this many resources. @default 100 */
  readonly limit?: number;
}

const DEFAULT_CRASH_CONTEXT_LIMIT = 10;
const DEFAULT_WINDOW_SECONDS = 3_600;
const DEFAULT_MIN_MODIFICATIONS = 5;
const DEFAULT_LOOP_LIMIT = 100;
const MAX_ROWS = 10_000;
const MAX_WINDOW_SECONDS = 31_536_000;
const MAX_AGENT_ID_LENGTH = 256;
const DATETIME_LITERAL = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?$/;

function moment(field: string, value: Date | string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new ClickHouseSchemaError(field, String(value), "is an invalid Date", "pass a valid Date");
    return formatDateTime64(BigInt(value.getTime()) * 1000n);
  }
  if (typeof value !== "string" || !DATETIME_LITERAL.test(value)) {
    throw new ClickHouseSchemaError(field, value, "is not a moment", "pass a Date or a UTC literal like '2025-11-21 15:00:00.000000'");
  }
  return value;
}

/** The crash-context query of one tenant, bound. */
export function crashContextQuery(p: CrashContextParams): BoundQuery {
  const tenantId = assertTenantId(p.tenantId);
  if (typeof p.agentId !== "string" || p.agentId.length === 0 || p.agentId.length > MAX_AGENT_ID_LENGTH) {
    throw new ClickHouseSchemaError("agentId", p.agentId, `is not an agent id of 1-${MAX_AGENT_ID_LENGTH} characters`, "pass the agent_id of the events");
  }
  return {
    query: CRASH_CONTEXT_SQL,
    query_params: {
      tenantId,
      agentId: p.agentId,
      before: moment("before", p.before),
      limit: checkInteger("limit", p.limit ?? DEFAULT_CRASH_CONTEXT_LIMIT, 1, MAX_ROWS),
    },
  };
}

/** The recent-changes query of one tenant's project, bound. */
export function recentChangesQuery(p: RecentChangesParams): BoundQuery {
  if (typeof p.projectId !== "string" || !PROJECT_ID_PATTERN.test(p.projectId)) throw new ClickHouseSchemaError("projectId", p.projectId, "is not a project id", "use 1-128 letters, digits, '_' or '-'");
  if (typeof p.prefix !== "string" || p.prefix.length > 1_024) throw new ClickHouseSchemaError("prefix", p.prefix, "is not a path prefix of at most 1024 characters", 'pass a path such as "src/" (or "" for every resource)');
  return {
    query: RECENT_CHANGES_SQL,
    query_params: {
      tenantId: assertTenantId(p.tenantId),
      projectId: p.projectId,
      prefix: p.prefix,
      until: moment("until", p.until),
      windowSeconds: checkInteger("windowSeconds", p.windowSeconds, 1, MAX_WINDOW_SECONDS),
      limit: checkInteger("limit", p.limit ?? 20, 1, MAX_ROWS),
    },
    // The workers run it: their row policy reads only the bound tenant's rows.
    clickhouse_settings: tenantBinding(p.tenantId),
  };
}

/**
 * A resource's standing for a revert (the worker's `state.revert`): over every state change of
 * one resource of a project, ONE row: how often the resource entered the state `stateHash`, the
 * change `eventId` names (found or not, the state it left and when), where the resource stands
 * now (its last change, `''` when that change deleted it) and whether the revert event
 * `revertEventId` is recorded already (an earlier attempt of the same job). Aggregated without
 * `GROUP BY`, so the answer is one row even for a resource without history (`changes` 0).
 */
export const REVERT_CHECK_SQL = `SELECT
    toUInt32(count()) AS changes,
    toUInt32(countIf(state_hash = {stateHash:String})) AS times_in_state,
    toUInt8(countIf(event_id = {eventId:UUID}) > 0) AS event_found,
    anyIf(state_hash, event_id = {eventId:UUID}) AS event_state_hash,
    anyIf(timestamp, event_id = {eventId:UUID}) AS event_timestamp,
    argMax(state_hash, (timestamp, event_id)) AS current_state_hash,
    max(timestamp) AS last_changed,
    toUInt8(countIf(event_id = {revertEventId:UUID}) > 0) AS revert_recorded
FROM ${EVENTS}
WHERE tenant_id = {tenantId:String}
  AND project_id = {projectId:String}
  AND event_type = 'state_change'
  AND target_resource = {resource:String}`;

/** The row of {@link REVERT_CHECK_SQL} in JSONEachRow (flags are 0/1, times 'YYYY-MM-DD hh:mm:ss.ffffff' UTC). */
export interface RevertCheckRow {
  /** State changes of the resource in the project (0: it has no history). */
  readonly changes: number;
  /** How many of them left it in `stateHash`. */
  readonly times_in_state: number;
  readonly event_found: 0 | 1;
  /** The state the named change left the resource in ('' when not found, or when it deleted it). */
  readonly event_state_hash: string;
  /** When the named change happened (the epoch when not found). */
  readonly event_timestamp: string;
  /** The state after the resource's last change ('' when deleted, or without history). */
  readonly current_state_hash: string;
  /** When the resource last changed (the epoch without history). */
  readonly last_changed: string;
  readonly revert_recorded: 0 | 1;
}

export interface RevertCheckParams {
  readonly tenantId: string;
  readonly projectId: string;
  /** The resource (`target_resource`), 1-1024 characters. */
  readonly resource: string;
  /** The state to go back to: lower-case hex SHA-256. */
  readonly stateHash: string;
  /** The state change that left the resource in that state. */
  readonly eventId: string;
  /** The id of the event that records the revert (derived from the job: known before it is emitted). */
  readonly revertEventId: string;
}

/** The revert check of one resource of a tenant's project, bound (the workers read only the bound tenant). */
export function revertCheckQuery(p: RevertCheckParams): BoundQuery {
  if (typeof p.projectId !== "string" || !PROJECT_ID_PATTERN.test(p.projectId)) throw new ClickHouseSchemaError("projectId", p.projectId, "is not a project id", "use 1-128 letters, digits, '_' or '-'");
  if (typeof p.resource !== "string" || p.resource.length === 0 || p.resource.length > RESOURCE_MAX_LENGTH) {
    throw new ClickHouseSchemaError("resource", p.resource, `is not a resource of 1-${RESOURCE_MAX_LENGTH} characters`, "pass the target_resource of the state changes (a path or URI within the project)");
  }
  if (typeof p.stateHash !== "string" || !STATE_HASH_PATTERN.test(p.stateHash)) throw new ClickHouseSchemaError("stateHash", p.stateHash, "is not a state hash", "pass 64 lower-case hex digits (SHA-256), as the state changes carry it");
  for (const field of ["eventId", "revertEventId"] as const) {
    if (typeof p[field] !== "string" || !EVENT_ID_PATTERN.test(p[field])) throw new ClickHouseSchemaError(field, p[field], "is not a canonical lower-case UUID", "pass an event_id");
  }
  return {
    query: REVERT_CHECK_SQL,
    query_params: { tenantId: assertTenantId(p.tenantId), projectId: p.projectId, resource: p.resource, stateHash: p.stateHash, eventId: p.eventId, revertEventId: p.revertEventId },
    // The workers run it: their row policy reads only the bound tenant's rows.
    clickhouse_settings: tenantBinding(p.tenantId),
  };
}

/** The hallucination-loop query of one tenant, bound. */
export function hallucinationLoopsQuery(p: HallucinationLoopParams): BoundQuery {
  return {
    query: HALLUCINATION_LOOPS_SQL,
    query_params: {
      tenantId: assertTenantId(p.tenantId),
      until: moment("until", p.until),
      windowSeconds: checkInteger("windowSeconds", p.windowSeconds ?? DEFAULT_WINDOW_SECONDS, 1, MAX_WINDOW_SECONDS),
      minModifications: checkInteger("minModifications", p.minModifications ?? DEFAULT_MIN_MODIFICATIONS, 0, 1_000_000_000),
      limit: checkInteger("limit", p.limit ?? DEFAULT_LOOP_LIMIT, 1, MAX_ROWS),
    },
  };
}
