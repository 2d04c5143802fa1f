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
import { CLUSTER_MACRO, qualified, SWARM_DATABASE, SWARM_EVENTS_LOCAL_TABLE, SWARM_EVENTS_TABLE } from "./names.js";
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
} as const;

/** Sorting key = ReplacingMergeTree's deduplication key: tenant first, event id last. */
export const SWARM_EVENTS_SORTING_KEY = ["tenant_id", "event_type", "agent_id", "timestamp", "event_id"] as const;
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

function columnDdl(): string {
  return SWARM_EVENT_COLUMNS.map((c: ColumnSpec) => {
    const parts = [`    ${c.name} ${c.type}`];
    if (c.ephemeral !== undefined) parts.push(`EPHEMERAL ${c.ephemeral}`);
    if (c.default !== undefined) parts.push(`DEFAULT ${c.default}`);
    if (c.comment) parts.push(`COMMENT ${quoteString(c.comment)}`);
    if (c.codec) parts.push(c.codec);
    return parts.join(" ");
  }).join(",\n");
}

/**
 * The database and tables, in order. Idempotent (`IF NOT EXISTS`): the migration Job runs it on
 * every deploy whose SQL changed.
 */
export function schemaSql(options: EventStoreOptions): string[] {
  const ttlDays = checkInteger("eventTtlDays", options.eventTtlDays, 1, MAX_TTL_DAYS);
  const replicated = options.replicated ?? false;
  const onCluster = replicated ? ` ON CLUSTER ${quoteString(CLUSTER_MACRO)}` : "";
  const storageTable = replicated ? SWARM_EVENTS_LOCAL_TABLE : SWARM_EVENTS_TABLE;
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
      `(\n${columnDdl()}\n)`,
      `ENGINE = ${engine}`,
      `PARTITION BY ${SWARM_EVENTS_PARTITION_KEY}`,
      `ORDER BY (${SWARM_EVENTS_SORTING_KEY.join(", ")})`,
      `TTL toDateTime(timestamp) + INTERVAL ${ttlDays} DAY DELETE`,
      `SETTINGS ${dedup}`,
    ].join("\n"),
  ];
  if (replicated) {
    statements.push(
      [
        `CREATE TABLE IF NOT EXISTS ${qualified(SWARM_EVENTS_TABLE)}${onCluster}`,
        `(\n${columnDdl()}\n)`,
        `ENGINE = Distributed(${quoteString(CLUSTER_MACRO)}, ${SWARM_DATABASE}, ${SWARM_EVENTS_LOCAL_TABLE}, ${SWARM_EVENTS_SHARDING_KEY})`,
      ].join("\n"),
    );
  }
  return statements;
}

/** A DateTime64(6) literal ('YYYY-MM-DD hh:mm:ss.ffffff', UTC) from microseconds since the epoch. */
export function formatDateTime64(epochMicros: bigint): string {
  const micros = ((epochMicros % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const seconds = (epochMicros - micros) / 1_000_000n;
  const iso = new Date(Number(seconds) * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${micros.toString().padStart(6, "0")}`;
}
