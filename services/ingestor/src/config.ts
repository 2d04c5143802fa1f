/**
 * The ingestor's configuration: every option read from the environment in ONE function,
 * {@link loadIngestorConfig}, validated at start. A bad value stops the service with an
 * {@link IngestorConfigError} naming the variable, the value and the fix. The names, defaults
 * and bounds are the service's contract (`../contract.ts`: `INGESTOR_ENV`, `INGESTOR_DEFAULTS`,
 * `INGESTOR_LIMITS`), which the Kubernetes construct reads too; this table documents them.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `INGESTOR_NATS_URL` | `nats://127.0.0.1:4222` | NATS server(s), comma-separated |
 * | `INGESTOR_NATS_CREDS` | (none) | path of a `.creds` file (operator mode); none = no auth |
 * | `INGESTOR_CONSUMER` | `swarm-ingestor` | durable pull consumer on `SWARM_EVENTS`, shared by every replica |
 * | `INGESTOR_CLICKHOUSE_URL` | (none) | ClickHouse HTTP(S) URL; none = embedded chdb at `INGESTOR_CHDB_PATH` |
 * | `INGESTOR_CLICKHOUSE_USER` | `swarm_ingestor` | ClickHouse user (HTTP mode) |
 * | `INGESTOR_CLICKHOUSE_PASSWORD` | `""` | its password (HTTP mode) |
 * | `INGESTOR_CHDB_PATH` | `./.data/chdb` | data directory of the embedded engine |
 * | `INGESTOR_BATCH_MAX_ROWS` | `10000` | rows per insert (at most) |
 * | `INGESTOR_BATCH_MAX_BYTES` | `8388608` | payload bytes per insert (8 MiB): a batch is inserted before a message would take it past this |
 * | `INGESTOR_FLUSH_INTERVAL_MS` | `1000` | a batch is inserted at the latest this long after its first message arrived |
 * | `INGESTOR_MAX_INFLIGHT_BATCHES` | `2` | batches in the sink at once; the next fills meanwhile (1 = strictly one after another) |
 * | `INGESTOR_RETRY_INITIAL_MS` | `200` | first wait after a transient insert failure (doubles each retry) |
 * | `INGESTOR_RETRY_MAX_MS` | `5000` | longest wait between insert retries |
 * | `INGESTOR_SHUTDOWN_TIMEOUT_MS` | `15000` | SIGTERM: drain, flush and ack within this, else exit 1 |
 * | `INGESTOR_PULL_EXPIRES_MS` | half the shutdown timeout, 1000-5000 | life of one pull request; a SIGTERM waits at most this for the open ones to end, so it must be at most half the shutdown timeout |
 * | `INGESTOR_HTTP_PORT` | `8080` | `/healthz` and `/readyz`; `0` = any free port, `off` = none |
 * | `INGESTOR_LOG_LEVEL` | `info` | lowest pino level written: fatal, error, warn, info, debug, trace or silent |
 * | `INGESTOR_TENANT_CACHE_MAX` | `100000` | tenants whose plan and usage a replica keeps (least recently used out first); at least one prefetch, so the tenants of every batch in hand fit |
 * | `INGESTOR_TENANT_CACHE_TTL_MS` | `1000` | a tenant's plan and usage are re-read when older than this (100-60000): how late a replica sees an offboarding, a tier change, and the other replicas' usage |
 * | `INGESTOR_QUOTA_MARGIN_PERCENT` | `5` | M, a share of the tier's `events.perDay` (0-100): a tenant within M of its allowance gets its usage read before each of its batches, and a replica accepts at most M of a tenant's events between two reads. Each replica beyond the first may add M to the overshoot (at 100: nothing, every batch reads); fewer lookups as it grows. The bound: `./tenants.ts` |
 *
 * The JetStream topology is not configured here: the durable consumer (`INGESTOR_CONSUMER`) and
 * the dead-letter stream are declared in `services/nats-auth` (`ingestorConsumerConfig`,
 * `deadLetterStreamConfig`), created by NACK in a cluster (the Ingestor construct's `Consumer`,
 * the Nats construct's `Stream`s) and by `createTopology` locally, and only checked at start
 * (`./topology.ts`). What replaced the variables that served their creation:
 *
 * | removed variable | replaced by |
 * |---|---|
 * | `INGESTOR_ACK_WAIT_MS` | the consumer's `ack_wait` (declared 30 s); the ingestor reads it at start for its progress signals and checks it is above `INGESTOR_FLUSH_INTERVAL_MS` |
 * | `INGESTOR_MAX_DELIVER` | the consumer's `max_deliver`, declared -1 (unlimited) and checked at start |
 * | `INGESTOR_BACKOFF_MS` | none: a message is redelivered after `ack_wait` |
 * | `INGESTOR_MAX_ACK_PENDING` | the consumer's `max_ack_pending`, declared max replicas × the default prefetch; checked at start to be at least this replica's prefetch, `INGESTOR_BATCH_MAX_ROWS` × (`INGESTOR_MAX_INFLIGHT_BATCHES` + 1) |
 * | `INGESTOR_ENSURE_CONSUMER` | none: the ingestor never creates or updates its consumer or the dead-letter stream |
 *
 * Setting a removed variable is refused (`INGESTOR_REMOVED_ENV`), so a stale setting is never
 * silently ignored.
 */
import type { LevelWithSilent } from "pino";
import { envInteger, envText, type Env, type EnvFail } from "../../runtime/env.js";
import { FieldError } from "../../runtime/errors.js";
import {
  INGESTOR_CONSUMER_NAME_PATTERN,
  INGESTOR_CONSUMER_NAME_RULE,
  INGESTOR_DEFAULTS as D,
  INGESTOR_ENV as V,
  INGESTOR_LIMITS as L,
  INGESTOR_LOG_LEVELS,
  INGESTOR_REMOVED_ENV,
  prefetchMessages,
  type IngestorLogLevel,
} from "../contract.js";

export { INGESTOR_LOG_LEVELS, prefetchMessages, type IngestorLogLevel };
/** The contract's levels are pino's (a type check only). */
INGESTOR_LOG_LEVELS satisfies readonly LevelWithSilent[];

export interface IngestorConfig {
  readonly nats: {
    readonly servers: readonly string[];
    readonly credsFile: string | undefined;
    /** The durable consumer on `SWARM_EVENTS`; it must exist (see the table above). */
    readonly consumer: string;
    /** Life of one pull request: at SIGTERM the open ones are let run out (at most this long), so no delivery is dropped. */
    readonly pullExpiresMs: number;
  };
  readonly clickhouse: { readonly kind: "http"; readonly url: string; readonly username: string; readonly password: string } | { readonly kind: "embedded"; readonly path: string };
  readonly batch: { readonly maxRows: number; readonly maxBytes: number; readonly flushIntervalMs: number; readonly maxInflight: number };
  readonly retry: { readonly initialMs: number; readonly maxMs: number };
  readonly shutdownTimeoutMs: number;
  /** `undefined`: no health server. */
  readonly httpPort: number | undefined;
  /** Lowest level logged. */
  readonly logLevel: IngestorLogLevel;
  /** The cache of tenants' plans and usage, and when a tenant's usage is re-read (./tenants.ts). */
  readonly tenants: { readonly cacheMax: number; readonly ttlMs: number; readonly quotaMarginPercent: number };
}

/** A configuration variable with a value the ingestor cannot run with. */
export class IngestorConfigError extends FieldError {
  override readonly name = "IngestorConfigError";
  readonly code = "E_INGESTOR_CONFIG";
  declare readonly value: string;
  /** The environment variable. */
  get variable(): string {
    return this.field;
  }
}

const fail: EnvFail = (variable, value, problem, fix) => {
  throw new IngestorConfigError(variable, value, problem, fix);
};
const text = (env: Env, name: string, fallback: string): string => envText(env, name) ?? fallback;
const integer = (env: Env, name: string, fallback: number, min: number, max: number): number => envInteger(env, name, fallback, min, max, fail);
/** A whole-number variable of {@link INGESTOR_LIMITS}, its default from the contract unless `fallback`. */
const bounded = (env: Env, key: keyof typeof L, fallback: number): number => integer(env, V[key], fallback, L[key].min, L[key].max);

/** All options, from `env` (default `process.env`). Throws {@link IngestorConfigError} on the first bad value. */
export function loadIngestorConfig(env: Env = process.env): IngestorConfig {
  for (const [variable, replacement] of Object.entries(INGESTOR_REMOVED_ENV)) {
    const value = envText(env, variable);
    if (value !== undefined) {
      throw new IngestorConfigError(variable, value, `is no longer read: the durable consumer and the dead-letter stream are declared (services/nats-auth/consumers.ts) and only checked at start; its place is taken by ${replacement}`, `unset ${variable}, and change the declaration if the setting must differ`);
    }
  }
  const servers = text(env, V.natsUrl, D.natsUrl)
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const s of servers) {
    if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(s)) {
      throw new IngestorConfigError(V.natsUrl, s, "is not a NATS URL", "use nats://host:port (comma-separate several)");
    }
  }
  const credsFile = env[V.natsCreds]?.trim() || undefined;
  const consumer = text(env, V.consumer, D.consumer);
  if (!INGESTOR_CONSUMER_NAME_PATTERN.test(consumer)) {
    throw new IngestorConfigError(V.consumer, consumer, "is not a valid durable consumer name", INGESTOR_CONSUMER_NAME_RULE);
  }

  const url = text(env, V.clickhouseUrl, "");
  let clickhouse: IngestorConfig["clickhouse"];
  if (url !== "") {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      throw new IngestorConfigError(V.clickhouseUrl, url, "is not a URL", "use http(s)://host:8123, or unset it for the embedded engine", { cause });
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new IngestorConfigError(V.clickhouseUrl, url, "is not an http(s) URL", "use http(s)://host:8123, or unset it for the embedded engine");
    }
    clickhouse = { kind: "http", url, username: text(env, V.clickhouseUser, D.clickhouseUser), password: env[V.clickhousePassword] ?? D.clickhousePassword };
  } else {
    clickhouse = { kind: "embedded", path: text(env, V.chdbPath, D.chdbPath) };
  }

  const retryInitial = bounded(env, "retryInitialMs", D.retryInitialMs);
  const retryMax = bounded(env, "retryMaxMs", D.retryMaxMs);
  if (retryMax < retryInitial) {
    throw new IngestorConfigError(V.retryMaxMs, String(retryMax), `is less than ${V.retryInitialMs} = ${retryInitial}`, "set it at least as large");
  }
  // Below the consumer's AckWait, or messages would be redelivered while their batch fills: checked at start (./topology.ts).
  const flushIntervalMs = bounded(env, "flushIntervalMs", D.flushIntervalMs);

  const shutdownTimeoutMs = bounded(env, "shutdownTimeoutMs", D.shutdownTimeoutMs);
  // A SIGTERM stops asking for messages and takes what the open pull requests still deliver; they
  // end within their expiry, which therefore has to fit in the shutdown bound with room to insert.
  const pullExpiresMs = bounded(env, "pullExpiresMs", Math.max(1_000, Math.min(5_000, Math.floor(shutdownTimeoutMs / 2))));
  if (env[V.pullExpiresMs] !== undefined && pullExpiresMs * 2 > shutdownTimeoutMs) {
    throw new IngestorConfigError(V.pullExpiresMs, String(pullExpiresMs), `is more than half of ${V.shutdownTimeoutMs} = ${shutdownTimeoutMs}: a SIGTERM waits this long for the open pull requests, then still has to insert and ack`, `set it to at most ${Math.floor(shutdownTimeoutMs / 2)} or raise the shutdown timeout`);
  }

  const maxRows = bounded(env, "batchMaxRows", D.batchMaxRows);
  const maxInflight = bounded(env, "maxInflightBatches", D.maxInflightBatches);
  // The consumer's MaxAckPending must leave this replica its prefetch: checked at start (./topology.ts).

  const httpRaw = text(env, V.httpPort, String(D.httpPort));
  const httpPort = httpRaw.toLowerCase() === "off" ? undefined : bounded(env, "httpPort", D.httpPort);

  // Every tenant of the batches in hand (at most one prefetch of messages) stays cached until its batch is inserted.
  const tenantCacheMax = bounded(env, "tenantCacheMax", D.tenantCacheMax);
  const prefetch = prefetchMessages({ maxRows, maxInflight });
  if (tenantCacheMax < prefetch) {
    throw new IngestorConfigError(
      V.tenantCacheMax,
      String(tenantCacheMax),
      `is below this replica's prefetch of ${prefetch} messages (${V.batchMaxRows} × (${V.maxInflightBatches} + 1)): the tenants of the batches in hand would not fit`,
      `set it to at least ${prefetch}, or lower ${V.batchMaxRows}`,
    );
  }

  const logLevelRaw = text(env, V.logLevel, D.logLevel).toLowerCase();
  const logLevel = INGESTOR_LOG_LEVELS.find((l) => l === logLevelRaw);
  if (logLevel === undefined) {
    throw new IngestorConfigError(V.logLevel, env[V.logLevel] ?? "", "is not a log level", `use one of ${INGESTOR_LOG_LEVELS.join(", ")}, or unset it for info`);
  }

  return {
    nats: {
      servers,
      credsFile,
      consumer,
      pullExpiresMs,
    },
    clickhouse,
    batch: {
      maxRows,
      maxBytes: bounded(env, "batchMaxBytes", D.batchMaxBytes),
      flushIntervalMs,
      maxInflight,
    },
    retry: { initialMs: retryInitial, maxMs: retryMax },
    shutdownTimeoutMs,
    httpPort,
    logLevel,
    tenants: { cacheMax: tenantCacheMax, ttlMs: bounded(env, "tenantCacheTtlMs", D.tenantCacheTtlMs), quotaMarginPercent: bounded(env, "quotaMarginPercent", D.quotaMarginPercent) },
  };
}
