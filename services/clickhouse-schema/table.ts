/**
 * The `swarm_events` table: its columns (the one list the DDL, the ingestor's insert format and
 * its row type all come from), its keys, and the DDL for a single server (chdb, tests, local
 * development) or for the operator's replicated, sharded cluster.
 *
 * Duplicates: JetStream delivers at least once, so the same event can be inserted twice. Two
 * mechanisms make it count once:
 * 1. Insert-block deduplication. A redelivered batch that is byte-identical to one already
 *    written (same rows, same order) is dropped by the engine at insert time (the replicated
 *    deduplication log, or `non_replicated_deduplication_window` on a single server). This is
 *    why `ingested_at` is the JetStream storage time of the message and not the time of the
 *    insert: every column of a redelivered copy is identical.
 * 2. ReplacingMergeTree keyed by the sorting key, which ends in `event_id`: copies that reach the
 *    table anyway (re-batched differently after a crash) share the whole key and collapse on
 *    merge, and every read path sees the table as merged (`FINAL`, see access.ts and queries.ts).
 *    Copies share the partition (`timestamp` is in the key) and the shard (the sharding key is
 *    `tenant_id`), so `FINAL` per partition and per shard is exact.
 */
import { checkInteger } from "./errors.js";
import {
  CLUSTER_MACRO,
  qualified,
  SWARM_DATABASE,
  SWARM_EVENTS_LOCAL_TABLE,
  SWARM_EVENTS_TABLE,
  TENANT_PLANS_LOCAL_TABLE,
  TENANT_PLANS_TABLE,
  TENANT_USAGE_LOCAL_TABLE,
  TENANT_USAGE_TABLE,
  TENANT_USAGE_VIEW,
} from "./names.js";
import { quoteString } from "./sql.js";

/**
 * `AgentRole` of events.proto, by its enum number (the index). Append only: ClickHouse extends an
 * Enum8 in place when values are added at the end, and the numbers must match the protobuf enum.
 */
export const AGENT_ROLES = ["UNSPECIFIED", "ARCHITECT", "PLANNER", "CODER", "REVIEWER", "TESTER", "OPERATOR"] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

/** Which `oneof` payload an event carries: the field names of SwarmEvent's payload in events.proto. */
export const EVENT_TYPES = ["decision", "state_change", "system_signal"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

function enum8(values: readonly string[], first: number): string {
  return `Enum8(${values.map((v, i) => `${quoteString(v)} = ${i + first}`).join(", ")})`;
}

/**
 * The codec of the two large text columns (`rationale`, `raw_proto`): ZSTD level 1. On the
 * bench's events (test/bench/ingest.ts), after `OPTIMIZE … FINAL`, level 3 stored the table in
 * 0.7% fewer bytes (raw_proto 1.3%, rationale the same) for about 1 µs more engine CPU per row at
 * insert and again at every merge; LZ4 costs 35% more bytes.
 */
const TEXT_CODEC = "CODEC(ZSTD(1))";

/**
 * The columns, in table order. `js` is the type of the value in a JSONEachRow insert; `insert`
 * says whether the ingestor sends it (`raw_proto` is computed from the ephemeral
 * `raw_proto_base64`, since JSON cannot carry raw bytes).
 */
export const SWARM_EVENT_COLUMNS = [
  { name: "event_id", type: "UUID", js: "string", insert: true, comment: "SwarmEvent.event_id, last in the sorting key: copies of one event collapse" },
  {
    name: "timestamp",
    type: "DateTime64(6, 'UTC')",
    js: "string",
    insert: true,
    codec: "CODEC(DoubleDelta, ZSTD(1))",
    comment: "When the agent emitted the event (UTC), the partition month",
  },
  { name: "trace_id", type: "String", js: "string", insert: true, comment: "OpenTelemetry trace id" },
  { name: "span_id", type: "String", js: "string", insert: true, comment: "OpenTelemetry span id" },
  { name: "agent_role", type: enum8(AGENT_ROLES, 0), js: "agentRole", insert: true, comment: "AgentRole enum of events.proto" },
  { name: "agent_id", type: "String", js: "string", insert: true, comment: "The agent that emitted the event" },
  { name: "tenant_id", type: "String", js: "string", insert: true, comment: "Owner of the event: first in the sorting key, the sharding key and the row policy" },
  { name: "user_id", type: "String", js: "string", insert: true, comment: "The tenant user whose swarm emitted the event" },
  { name: "project_id", type: "String", js: "string", insert: true, comment: "The project the event belongs to" },
  { name: "is_encrypted", type: "Bool", js: "boolean", insert: true, comment: "Payload encrypted with the tenant data key: only raw_proto holds it" },
  { name: "event_type", type: enum8(EVENT_TYPES, 1), js: "eventType", insert: true, comment: "Which payload the event carries" },
  { name: "confidence_score", type: "Float32", js: "number", insert: true, comment: "decision: the agent confidence (0 for other events)" },
  { name: "rationale", type: "String", js: "string", insert: true, codec: TEXT_CODEC, comment: "decision: why the agent decided ('' for other events)" },
  { name: "target_resource", type: "String", js: "string", insert: true, comment: "state_change: the resource that changed ('' for other events)" },
  { name: "state_hash", type: "String", js: "string", insert: true, comment: "state_change: hash of the resource state after the change" },
  {
    name: "raw_proto_base64",
    type: "String",
    js: "string",
    insert: true,
    ephemeral: "''",
    comment: "Insert-only: the serialized SwarmEvent in base64 (not stored)",
  },
  {
    name: "raw_proto",
    type: "String",
    js: "string",
    insert: false,
    default: "base64Decode(raw_proto_base64)",
    codec: TEXT_CODEC,
    comment: "The serialized SwarmEvent, byte for byte, for replay",
  },
  {
    name: "ingested_at",
    type: "DateTime64(3, 'UTC')",
    js: "string",
    insert: true,
    comment: "When JetStream stored the message (its stream timestamp), identical in every redelivery",
  },
  {
    name: "retention_days",
    type: "UInt16",
    js: "number",
    insert: true,
    comment: "Days the row is kept: its tenant's tier retentionDays when it was ingested (0: the table's default TTL)",
  },
] as const satisfies readonly ColumnSpec[];

interface ColumnSpec {
  readonly name: string;
  readonly type: string;
  readonly js: "string" | "number" | "boolean" | "agentRole" | "eventType";
  readonly insert: boolean;
  readonly comment: string;
  readonly codec?: string;
  readonly default?: string;
  readonly ephemeral?: string;
}

type Column = (typeof SWARM_EVENT_COLUMNS)[number];
type InsertColumn = Extract<Column, { readonly insert: true }>;
type JsType<K> = K extends "number" ? number : K extends "boolean" ? boolean : K extends "agentRole" ? AgentRole : K extends "eventType" ? EventType : string;

/** One row as the ingestor inserts it (JSONEachRow), typed from {@link SWARM_EVENT_COLUMNS}. */
export type SwarmEventRow = { readonly [C in InsertColumn as C["name"]]: JsType<C["js"]> };

/** The columns of an insert, in table order. */
export const SWARM_EVENTS_INSERT_COLUMNS: readonly (keyof SwarmEventRow)[] = SWARM_EVENT_COLUMNS.filter((c): c is InsertColumn => c.insert).map((c) => c.name);

/** The format of row-object inserts ({@link SwarmEventRow}: tests, tools, the naive baseline). */
export const SWARM_EVENTS_INSERT_FORMAT = "JSONEachRow";

/**
 * The ingestor's own inserts: TabSeparated rows in {@link SWARM_EVENTS_BLOCK_COLUMNS} order, built
 * as bytes (services/ingestor/src/row-encoder.ts). `raw_proto` travels as its raw bytes (with
 * TabSeparated's backslash escapes), so neither side pays for base64, and ClickHouse parses
 * TabSeparated with less CPU per row than JSONEachRow.
 */
export const SWARM_EVENTS_BLOCK_FORMAT = "TabSeparated";
/** {@link SWARM_EVENTS_INSERT_COLUMNS} with `raw_proto` itself in place of `raw_proto_base64`. */
export const SWARM_EVENTS_BLOCK_COLUMNS: readonly string[] = SWARM_EVENTS_INSERT_COLUMNS.map((c) => (c === "raw_proto_base64" ? "raw_proto" : c));

/**
 * Settings of every insert: block deduplication on, and a Distributed table writes to the shards
 * before the insert returns (so the ingestor acks JetStream only for rows that are on a shard).
 * A batch may also carry `insert_deduplication_token` (e.g. the stream sequence range it covers).
 */
export const SWARM_EVENTS_INSERT_SETTINGS = {
  insert_deduplicate: 1,
  distributed_foreground_insert: 1,
  // The usage view's block of a redelivered batch is dropped like the batch itself: counted once.
  deduplicate_blocks_in_dependent_materialized_views: 1,
} as const;

/** Sorting key = ReplacingMergeTree's deduplication key: tenant first, event id last. */
export const SWARM_EVENTS_SORTING_KEY = ["tenant_id", "event_type", "agent_id", "timestamp", "event_id"] as const;
/**
 * Data-skipping indexes of the event table. `event_id` is last in the sorting key, so one event
 * by id (the events API's `GET /v1/events/{id}`) would read every granule of its tenant; a bloom
 * filter per granule lets the engine skip all but the one holding it (the largest tenant of
 * `npm run bench:query`, 1,000,000 rows: 160 ms → 7 ms at p50, measured on the embedded engine).
 * Parts written before the index existed get it at their next merge.
 */
export const SWARM_EVENTS_SKIP_INDEXES = [{ name: "event_id_bloom", expression: "event_id", type: "bloom_filter(0.001)", granularity: 1 }] as const;

function indexDefinition(i: (typeof SWARM_EVENTS_SKIP_INDEXES)[number]): string {
  return `INDEX ${i.name} ${i.expression} TYPE ${i.type} GRANULARITY ${i.granularity}`;
}

/** Monthly partitions (never per tenant: a million tenants would be a million partitions). */
export const SWARM_EVENTS_PARTITION_KEY = "toYYYYMM(timestamp)";
/** Distributed sharding key: a tenant's events, and every copy of one event, live on one shard. */
export const SWARM_EVENTS_SHARDING_KEY = "cityHash64(tenant_id)";
/** ReplacingMergeTree's version: of two copies the later-stored one is kept (they are identical). */
export const SWARM_EVENTS_VERSION_COLUMN = "ingested_at";
/** Insert blocks remembered for deduplication (per shard), and for how long (replicated). */
export const INSERT_DEDUPLICATION_WINDOW_BLOCKS = 10_000;
export const INSERT_DEDUPLICATION_WINDOW_SECONDS = 86_400;

/** Where a replicated table keeps its replication log in Keeper. */
export const REPLICATION_PATH = `/clickhouse/tables/${CLUSTER_MACRO}/{shard}/${SWARM_DATABASE}/${SWARM_EVENTS_LOCAL_TABLE}`;

export interface EventStoreOptions {
  /** Rows older than this are deleted by the table's TTL (config `clickhouse.eventTtlDays`). */
  readonly eventTtlDays: number;
  /**
   * `true`: a ReplicatedReplacingMergeTree on every shard and a Distributed table over them,
   * created `ON CLUSTER '{cluster}'` (the Altinity operator's macro). `false`: one
   * ReplacingMergeTree on one server (chdb, tests, local development).
   * @default false
   */
  readonly replicated?: boolean;
}

/** Maximum TTL: the config schema's limit. */
const MAX_TTL_DAYS = 3_650;

function columnDefinition(c: ColumnSpec): string {
  const parts = [`${c.name} ${c.type}`];
  if (c.ephemeral !== undefined) parts.push(`EPHEMERAL ${c.ephemeral}`);
  if (c.default !== undefined) parts.push(`DEFAULT ${c.default}`);
  if (c.comment) parts.push(`COMMENT ${quoteString(c.comment)}`);
  if (c.codec) parts.push(c.codec);
  return parts.join(" ");
}

function columnDdl(): string {
  return SWARM_EVENT_COLUMNS.map((c: ColumnSpec) => `    ${columnDefinition(c)}`).join(",\n");
}

/**
 * The row TTL of the event table: each row's own `retention_days` (its tenant's tier when it was
 * ingested, so a tier change applies from then on), or the table's default for rows that carry
 * none (inserted before the column existed, or by a tool that does not set it).
 */
export function eventTtlExpression(defaultDays: number): string {
  const days = checkInteger("eventTtlDays", defaultDays, 1, MAX_TTL_DAYS);
  return `toDateTime(timestamp) + toIntervalDay(if(retention_days = 0, ${days}, retention_days))`;
}

/** Days a tenant's daily usage rows are kept: this month and the last twelve, for billing questions. */
export const USAGE_RETENTION_DAYS = 400;

/** Columns of {@link TENANT_USAGE_TABLE}: summed per (tenant, day) on merge. */
export const TENANT_USAGE_COLUMNS = [
  { name: "tenant_id", type: "String", comment: "The tenant" },
  { name: "day", type: "Date", comment: "UTC day the events were stored in JetStream (ingested_at): the quota's day" },
  { name: "events", type: "UInt64", comment: "Events stored (rows inserted into the event table)" },
  { name: "rejected_quota", type: "UInt64", comment: "Events refused over the tier's events.perDay (dead-lettered with reason quota)" },
  { name: "rejected_expired", type: "UInt64", comment: "Events refused as older than the tier's retentionDays (dead-lettered with reason expired)" },
] as const;

/** Columns of {@link TENANT_PLANS_TABLE}: the latest row per tenant wins (`updated_at`). */
export const TENANT_PLANS_COLUMNS = [
  { name: "tenant_id", type: "String", comment: "The tenant" },
  { name: "plan_tier", type: "LowCardinality(String)", comment: "Its plan tier (config/tiers.ts): allowance and retention come from the catalog" },
  { name: "status", type: "LowCardinality(String)", comment: "active or offboarded (the ingestor refuses an offboarded tenant's events)" },
  { name: "updated_at", type: "DateTime64(3, 'UTC')", comment: "When the provisioning service recorded it: the version of the row" },
] as const;

/** A row of {@link TENANT_PLANS_TABLE} as the provisioning service inserts it (JSONEachRow). */
export interface TenantPlanRow {
  readonly tenant_id: string;
  readonly plan_tier: string;
  readonly status: "active" | "offboarded";
  /** 'YYYY-MM-DD hh:mm:ss.fff' UTC. */
  readonly updated_at: string;
}

function simpleColumns(columns: readonly { readonly name: string; readonly type: string; readonly comment: string }[]): string {
  return columns.map((c) => `    ${c.name} ${c.type} COMMENT ${quoteString(c.comment)}`).join(",\n");
}

function mergeTreeEngine(replicated: boolean, kind: "Replacing" | "Summing", table: string, args: string): string {
  if (!replicated) return `${kind}MergeTree(${args})`;
  const path = `/clickhouse/tables/${CLUSTER_MACRO}/{shard}/${SWARM_DATABASE}/${table}`;
  return `Replicated${kind}MergeTree(${[quoteString(path), "'{replica}'", ...(args ? [args] : [])].join(", ")})`;
}

/**
 * The database and tables, in order. Idempotent (`IF NOT EXISTS`): the migration Job runs it on
 * every deploy whose SQL changed; {@link convergenceSql} then brings tables created by an older
 * declaration to this one.
 */
export function schemaSql(options: EventStoreOptions): string[] {
  const replicated = options.replicated ?? false;
  const ttl = eventTtlExpression(options.eventTtlDays);
  const onCluster = replicated ? ` ON CLUSTER ${quoteString(CLUSTER_MACRO)}` : "";
  const storageTable = replicated ? SWARM_EVENTS_LOCAL_TABLE : SWARM_EVENTS_TABLE;
  const usageStorage = replicated ? TENANT_USAGE_LOCAL_TABLE : TENANT_USAGE_TABLE;
  const plansStorage = replicated ? TENANT_PLANS_LOCAL_TABLE : TENANT_PLANS_TABLE;
  const engine = replicated
    ? `ReplicatedReplacingMergeTree(${quoteString(REPLICATION_PATH)}, '{replica}', ${SWARM_EVENTS_VERSION_COLUMN})`
    : `ReplacingMergeTree(${SWARM_EVENTS_VERSION_COLUMN})`;
  const dedup = replicated
    ? `replicated_deduplication_window = ${INSERT_DEDUPLICATION_WINDOW_BLOCKS}, replicated_deduplication_window_seconds = ${INSERT_DEDUPLICATION_WINDOW_SECONDS}`
    : `non_replicated_deduplication_window = ${INSERT_DEDUPLICATION_WINDOW_BLOCKS}`;
  const statements = [
    `CREATE DATABASE IF NOT EXISTS ${SWARM_DATABASE}${onCluster}`,
    [
      `CREATE TABLE IF NOT EXISTS ${qualified(storageTable)}${onCluster}`,
      `(\n${columnDdl()},\n${SWARM_EVENTS_SKIP_INDEXES.map((i) => `    ${indexDefinition(i)}`).join(",\n")}\n)`,
      `ENGINE = ${engine}`,
      `PARTITION BY ${SWARM_EVENTS_PARTITION_KEY}`,
      `ORDER BY (${SWARM_EVENTS_SORTING_KEY.join(", ")})`,
      `TTL ${ttl} DELETE`,
      `SETTINGS ${dedup}`,
    ].join("\n"),
    [
      `CREATE TABLE IF NOT EXISTS ${qualified(usageStorage)}${onCluster}`,
      `(\n${simpleColumns(TENANT_USAGE_COLUMNS)}\n)`,
      `ENGINE = ${mergeTreeEngine(replicated, "Summing", usageStorage, "")}`,
      "PARTITION BY toYYYYMM(day)",
      "ORDER BY (tenant_id, day)",
      `TTL day + toIntervalDay(${USAGE_RETENTION_DAYS}) DELETE`,
      // The view's blocks are deduplicated like the event table's (SWARM_EVENTS_INSERT_SETTINGS).
      `SETTINGS ${dedup}`,
    ].join("\n"),
    [
      `CREATE TABLE IF NOT EXISTS ${qualified(plansStorage)}${onCluster}`,
      `(\n${simpleColumns(TENANT_PLANS_COLUMNS)}\n)`,
      `ENGINE = ${mergeTreeEngine(replicated, "Replacing", plansStorage, "updated_at")}`,
      "ORDER BY tenant_id",
    ].join("\n"),
    // Every row the event table stores is counted on its shard, in the same insert (a block the
    // table drops as a duplicate is not passed to the view, so a redelivered batch counts once).
    [
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${qualified(TENANT_USAGE_VIEW)}${onCluster}`,
      `TO ${qualified(usageStorage)}`,
      `AS SELECT tenant_id, toDate(ingested_at) AS day, count() AS events, toUInt64(0) AS rejected_quota, toUInt64(0) AS rejected_expired`,
      `FROM ${qualified(storageTable)}`,
      "GROUP BY tenant_id, day",
    ].join("\n"),
  ];
  if (replicated) {
    statements.push(
      [
        `CREATE TABLE IF NOT EXISTS ${qualified(SWARM_EVENTS_TABLE)}${onCluster}`,
        `(\n${columnDdl()}\n)`,
        `ENGINE = Distributed(${quoteString(CLUSTER_MACRO)}, ${SWARM_DATABASE}, ${SWARM_EVENTS_LOCAL_TABLE}, ${SWARM_EVENTS_SHARDING_KEY})`,
      ].join("\n"),
      [
        `CREATE TABLE IF NOT EXISTS ${qualified(TENANT_USAGE_TABLE)}${onCluster}`,
        `(\n${simpleColumns(TENANT_USAGE_COLUMNS)}\n)`,
        `ENGINE = Distributed(${quoteString(CLUSTER_MACRO)}, ${SWARM_DATABASE}, ${TENANT_USAGE_LOCAL_TABLE}, ${SWARM_EVENTS_SHARDING_KEY})`,
      ].join("\n"),
      [
        `CREATE TABLE IF NOT EXISTS ${qualified(TENANT_PLANS_TABLE)}${onCluster}`,
        `(\n${simpleColumns(TENANT_PLANS_COLUMNS)}\n)`,
        `ENGINE = Distributed(${quoteString(CLUSTER_MACRO)}, ${SWARM_DATABASE}, ${TENANT_PLANS_LOCAL_TABLE}, ${SWARM_EVENTS_SHARDING_KEY})`,
      ].join("\n"),
    );
  }
  return [...statements, ...convergenceSql(options)];
}

/**
 * Brings an existing event table to the declaration: columns added since it was created (added
 * `IF NOT EXISTS`, in table order), its skipping indexes (`IF NOT EXISTS`), the declared TTL and
 * every declared codec (`MODIFY`). Each
 * statement is a metadata change: parts written before take the new TTL and codecs at their next
 * merge (the migration runs with `materialize_ttl_after_modify = 0`, {@link MIGRATION_SETTINGS},
 * so a deploy never rewrites the table). Idempotent: on a table already declared so, nothing changes.
 */
export function convergenceSql(options: EventStoreOptions): string[] {
  const replicated = options.replicated ?? false;
  const onCluster = replicated ? ` ON CLUSTER ${quoteString(CLUSTER_MACRO)}` : "";
  const tables = replicated ? [SWARM_EVENTS_LOCAL_TABLE, SWARM_EVENTS_TABLE] : [SWARM_EVENTS_TABLE];
  const out: string[] = [];
  for (const table of tables) {
    let previous: string | undefined;
    for (const c of SWARM_EVENT_COLUMNS as readonly ColumnSpec[]) {
      if (ADDED_COLUMNS.has(c.name)) out.push(`ALTER TABLE ${qualified(table)}${onCluster} ADD COLUMN IF NOT EXISTS ${columnDefinition(c)}${previous ? ` AFTER ${previous}` : " FIRST"}`);
      previous = c.name;
    }
  }
  const storage = qualified(replicated ? SWARM_EVENTS_LOCAL_TABLE : SWARM_EVENTS_TABLE);
  for (const i of SWARM_EVENTS_SKIP_INDEXES) out.push(`ALTER TABLE ${storage}${onCluster} ADD INDEX IF NOT EXISTS ${indexDefinition(i).slice("INDEX ".length)}`);
  out.push(`ALTER TABLE ${storage}${onCluster} MODIFY TTL ${eventTtlExpression(options.eventTtlDays)} DELETE`);
  for (const c of SWARM_EVENT_COLUMNS as readonly ColumnSpec[]) {
    if (c.codec) out.push(`ALTER TABLE ${storage}${onCluster} MODIFY COLUMN ${c.name} ${c.codec}`);
  }
  return out;
}

/** Columns added after the table's first release: {@link convergenceSql} adds them to older tables. */
const ADDED_COLUMNS: ReadonlySet<string> = new Set(["retention_days"]);

/**
 * Settings of the migration's session: a changed TTL is not materialized at once (that would
 * rewrite every part of the table during a deploy); merges apply it part by part.
 */
export const MIGRATION_SETTINGS = { materialize_ttl_after_modify: 0 } as const;

/** A DateTime64(6) literal ('YYYY-MM-DD hh:mm:ss.ffffff', UTC) from microseconds since the epoch. */
export function formatDateTime64(epochMicros: bigint): string {
  const micros = ((epochMicros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const seconds = (epochMicros - micros) / 1_000_000n;
  const iso = new Date(Number(seconds) * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros.toString().padStart(6, "0")}`;
}
