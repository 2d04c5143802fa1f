/**
 * The ingestor's contract with whatever deploys it: its HTTP port and paths, the environment
 * variables it reads (names, defaults and bounds), its Prometheus metric names, and the JetStream
 * topology it needs (the streams it reads and writes, its durable consumer's default name, name
 * pattern and settings).
 *
 * Dependency-free: it imports only other name modules, never an npm package or service code, so
 * `constructs/ingestor.ts` builds the Deployment from it without loading the service, and
 * `src/config.ts` reads every variable through {@link INGESTOR_ENV}.
 */
import { CLICKHOUSE_USERS } from "../clickhouse-schema/names.js";
import { DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECT_PREFIX, DEAD_LETTER_SUBJECTS, STORED_EVENT_SUBJECTS, STREAM_NAMES, STREAM_SUBJECTS } from "../nats-auth/jetstream-names.js";

/** The port of `/healthz`, `/readyz` and `/metrics` (the container's `http` port). */
export const INGESTOR_HTTP_PORT = 8080;

/** Paths served on {@link INGESTOR_HTTP_PORT}. */
export const INGESTOR_HTTP_PATHS = {
  /** 200 while the NATS connection is open (liveness). */
  health: "/healthz",
  /** 200 while the consumer takes work (readiness). */
  ready: "/readyz",
  /** Prometheus text exposition of {@link INGESTOR_METRICS}. */
  metrics: "/metrics",
} as const;

/** Every environment variable the ingestor reads, by role. Nothing else is read. */
export const INGESTOR_ENV = {
  natsUrl: "INGESTOR_NATS_URL",
  natsCreds: "INGESTOR_NATS_CREDS",
  consumer: "INGESTOR_CONSUMER",
  clickhouseUrl: "INGESTOR_CLICKHOUSE_URL",
  clickhouseUser: "INGESTOR_CLICKHOUSE_USER",
  clickhousePassword: "INGESTOR_CLICKHOUSE_PASSWORD",
  chdbPath: "INGESTOR_CHDB_PATH",
  batchMaxRows: "INGESTOR_BATCH_MAX_ROWS",
  batchMaxBytes: "INGESTOR_BATCH_MAX_BYTES",
  flushIntervalMs: "INGESTOR_FLUSH_INTERVAL_MS",
  maxInflightBatches: "INGESTOR_MAX_INFLIGHT_BATCHES",
  retryInitialMs: "INGESTOR_RETRY_INITIAL_MS",
  retryMaxMs: "INGESTOR_RETRY_MAX_MS",
  shutdownTimeoutMs: "INGESTOR_SHUTDOWN_TIMEOUT_MS",
  pullExpiresMs: "INGESTOR_PULL_EXPIRES_MS",
  httpPort: "INGESTOR_HTTP_PORT",
  logLevel: "INGESTOR_LOG_LEVEL",
  tenantCacheMax: "INGESTOR_TENANT_CACHE_MAX",
  tenantCacheTtlMs: "INGESTOR_TENANT_CACHE_TTL_MS",
  quotaMarginPercent: "INGESTOR_QUOTA_MARGIN_PERCENT",
} as const;

/** The names of {@link INGESTOR_ENV}. */
export type IngestorEnvVar = (typeof INGESTOR_ENV)[keyof typeof INGESTOR_ENV];

/** pino's levels, lowest-volume first; `silent` writes nothing (`src/config.ts` checks them against pino's type). */
export const INGESTOR_LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type IngestorLogLevel = (typeof INGESTOR_LOG_LEVELS)[number];

/**
 * The value of each variable when it is unset (variables without an entry have none: unset
 * `INGESTOR_NATS_CREDS` = no auth, unset `INGESTOR_CLICKHOUSE_URL` = the embedded engine, unset
 * `INGESTOR_PULL_EXPIRES_MS` = derived from the shutdown bound).
 */
export const INGESTOR_DEFAULTS = {
  natsUrl: "nats://127.0.0.1:4222",
  consumer: "swarm-ingestor",
  clickhouseUser: CLICKHOUSE_USERS.ingestor,
  clickhousePassword: "",
  chdbPath: "./.data/chdb",
  batchMaxRows: 10_000,
  batchMaxBytes: 8 * 1024 * 1024,
  flushIntervalMs: 1_000,
  maxInflightBatches: 2,
  retryInitialMs: 200,
  retryMaxMs: 5_000,
  shutdownTimeoutMs: 15_000,
  httpPort: INGESTOR_HTTP_PORT,
  logLevel: "info",
  tenantCacheMax: 100_000,
  tenantCacheTtlMs: 1_000,
  quotaMarginPercent: 5,
} as const satisfies Partial<Record<keyof typeof INGESTOR_ENV, string | number>> & { readonly logLevel: IngestorLogLevel };

/** Inclusive bounds of the whole-number variables. */
export const INGESTOR_LIMITS = {
  batchMaxRows: { min: 1, max: 100_000 },
  batchMaxBytes: { min: 1_024, max: 256 * 1024 * 1024 },
  flushIntervalMs: { min: 10, max: 60_000 },
  maxInflightBatches: { min: 1, max: 16 },
  retryInitialMs: { min: 1, max: 60_000 },
  retryMaxMs: { min: 1, max: 600_000 },
  shutdownTimeoutMs: { min: 100, max: 600_000 },
  pullExpiresMs: { min: 1_000, max: 60_000 },
  httpPort: { min: 0, max: 65_535 },
  /** At least one prefetch (checked at load): the tenants of every batch in hand must fit. */
  tenantCacheMax: { min: 1_000, max: 10_000_000 },
  /**
   * A tenant's plan and usage are re-read at least this often while its events flow. So a
   * deletion of an offboarded tenant's history must start at least this max after its
   * `offboarded` plan row is written (plus the time a batch decided just before can spend in its
   * insert): by then no replica decides the tenant's events as active.
   */
  tenantCacheTtlMs: { min: 100, max: 60_000 },
  quotaMarginPercent: { min: 0, max: 100 },
} as const satisfies Partial<Record<keyof typeof INGESTOR_ENV, { readonly min: number; readonly max: number }>>;

/** A durable consumer name the ingestor accepts (`INGESTOR_CONSUMER`): one NATS subject token. */
export const INGESTOR_CONSUMER_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** How to write a name matching {@link INGESTOR_CONSUMER_NAME_PATTERN}. */
export const INGESTOR_CONSUMER_NAME_RULE = "use 1-64 letters, digits, '_' or '-'";

/**
 * Messages one replica pulls ahead of its acks: a full batch for each insert in flight and one
 * filling. The durable consumer's MaxAckPending (shared by the replicas) must leave each this many.
 */
export function prefetchMessages(batch: { readonly maxRows: number; readonly maxInflight: number }): number {
  return batch.maxRows * (batch.maxInflight + 1);
}

/** {@link prefetchMessages} of the default batch: 30,000. */
export const DEFAULT_PREFETCH_MESSAGES = prefetchMessages({ maxRows: INGESTOR_DEFAULTS.batchMaxRows, maxInflight: INGESTOR_DEFAULTS.maxInflightBatches });

/**
 * Variables earlier versions read to create the durable consumer and the dead-letter stream at
 * start. The topology is now declared in `services/nats-auth/consumers.ts` (created by NACK in a
 * cluster, by `createTopology` locally) and only checked at start; the loader refuses these, so a
 * stale setting is not silently ignored.
 */
export const INGESTOR_REMOVED_ENV = {
  INGESTOR_ACK_WAIT_MS: "the consumer's ack_wait (ingestorConsumerConfig's ackWaitMs)",
  INGESTOR_MAX_DELIVER: "the consumer's max_deliver (always -1)",
  INGESTOR_BACKOFF_MS: "the consumer's backoff (none: redelivery after ack_wait)",
  INGESTOR_MAX_ACK_PENDING: "the consumer's max_ack_pending (ingestorConsumerConfig's maxReplicas × prefetch)",
  INGESTOR_ENSURE_CONSUMER: "nothing: the ingestor never creates its consumer or the dead-letter stream",
} as const;

/**
 * The JetStream topology the ingestor needs. It creates none of it: NACK (in a cluster) and
 * `createTopology` (locally) create it from the declarations of `services/nats-auth`, built on
 * these values, and the ingestor checks at start that it is there with the settings it needs.
 */
export const INGESTOR_JETSTREAM = {
  /** The stream it consumes. */
  reads: STREAM_NAMES.events,
  /** What the stream must capture: every tenant's published events. */
  capturedSubject: STREAM_SUBJECTS.events,
  /** Its durable consumer's filter: every tenant's events as the stream stores them (`swarm.<tenant>.events`). */
  filterSubject: STORED_EVENT_SUBJECTS,
  /** The stream it publishes refused events to, on `ingestor.dlq.<reason>`. */
  writes: DEAD_LETTER_STREAM,
  /** What that stream must capture. */
  deadLetterSubjects: DEAD_LETTER_SUBJECTS,
  deadLetterSubjectPrefix: DEAD_LETTER_SUBJECT_PREFIX,
  /** Its durable consumer's AckWait: redelivery after this without an ack or a progress signal. */
  ackWaitMs: 30_000,
  /** Its durable consumer's MaxDeliver: unlimited, so a sink outage never drops an event. */
  maxDeliver: -1,
} as const;

/**
 * Names, types and help texts of every Prometheus series the ingestor exports: the one home of
 * these names (`src/metrics.ts` registers exactly these; the dashboard queries only these).
 * Histograms are exposed with Prometheus' `_bucket`, `_sum` and `_count` series.
 */
export const INGESTOR_METRICS = {
  consumed: { name: "ingestor_messages_consumed_total", type: "counter", help: "Messages fetched from the consumer." },
  inserted: { name: "ingestor_rows_inserted_total", type: "counter", help: "Rows inserted into ClickHouse (then acked)." },
  deadLettered: { name: "ingestor_messages_dead_lettered_total", type: "counter", help: "Messages moved to the DLQ stream, by reason." },
  redelivered: { name: "ingestor_messages_redelivered_total", type: "counter", help: "Messages received with a delivery count above 1." },
  batchRows: { name: "ingestor_batch_rows", type: "histogram", help: "Rows per insert block." },
  batchBytes: { name: "ingestor_batch_bytes", type: "histogram", help: "Payload bytes per insert block." },
  insertDuration: { name: "ingestor_insert_duration_seconds", type: "histogram", help: "Duration of one insert attempt, failed ones included (its _count counts attempts)." },
  insertErrors: { name: "ingestor_insert_errors_total", type: "counter", help: "Failed inserts, by kind (transient, permanent)." },
  consumerPending: { name: "ingestor_consumer_pending_messages", type: "gauge", help: "Messages on the stream not yet delivered to the consumer (its lag)." },
  consumerAckPending: { name: "ingestor_consumer_ack_pending_messages", type: "gauge", help: "Messages delivered and not yet acked." },
  lastInsert: { name: "ingestor_last_insert_success_timestamp_seconds", type: "gauge", help: "Unix time of the last successful insert." },
  refused: { name: "ingestor_events_refused_total", type: "counter", help: "Valid events their tenant's plan refused (dead-lettered), by reason (quota, expired, offboarded) and tier." },
  tenantsOverQuota: { name: "ingestor_tenants_over_quota", type: "gauge", help: "Tenants whose daily event allowance is used up, on the latest UTC day this replica ingested (as it last counted)." },
  tenantLookups: { name: "ingestor_tenant_lookups_total", type: "counter", help: "Queries of tenants' plans and usage (per batch, for its tenants the cache cannot decide on, 2,000 per query), by outcome (ok, error)." },
} as const satisfies Record<string, { readonly name: `ingestor_${string}`; readonly type: "counter" | "gauge" | "histogram"; readonly help: string }>;
