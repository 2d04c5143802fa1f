/**
 * The ingestor's configuration: every option read from the environment in ONE function,
 * {@link loadIngestorConfig}, validated at start. A bad value stops the service with an
 * {@link IngestorConfigError} naming the variable, the value and the fix.
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
 * | `INGESTOR_ACK_WAIT_MS` | `30000` | JetStream AckWait (redelivery after this without ack or progress) |
 * | `INGESTOR_MAX_DELIVER` | `-1` | JetStream MaxDeliver; -1 = unlimited (a sink outage must never drop events) |
 * | `INGESTOR_BACKOFF_MS` | (none) | JetStream BackOff, comma-separated ms; needs MaxDeliver > its length |
 * | `INGESTOR_MAX_ACK_PENDING` | `100000` | JetStream MaxAckPending, over all replicas: at least one replica's prefetch, `INGESTOR_BATCH_MAX_ROWS` × (`INGESTOR_MAX_INFLIGHT_BATCHES` + 1); the construct sets max replicas × that |
 * | `INGESTOR_RETRY_INITIAL_MS` | `200` | first wait after a transient insert failure (doubles each retry) |
 * | `INGESTOR_RETRY_MAX_MS` | `5000` | longest wait between insert retries |
 * | `INGESTOR_SHUTDOWN_TIMEOUT_MS` | `15000` | SIGTERM: drain, flush and ack within this, else exit 1 |
 * | `INGESTOR_PULL_EXPIRES_MS` | half the shutdown timeout, 1000-5000 | life of one pull request; a SIGTERM waits at most this for the open ones to end, so it must be at most half the shutdown timeout |
 * | `INGESTOR_HTTP_PORT` | `8080` | `/healthz` and `/readyz`; `0` = any free port, `off` = none |
 * | `INGESTOR_ENSURE_CONSUMER` | `true` | create/update the durable consumer and the DLQ stream at start |
 * | `INGESTOR_LOG_LEVEL` | `info` | lowest pino level written: fatal, error, warn, info, debug, trace or silent |
 */
import type { LevelWithSilent } from "pino";
import { CLICKHOUSE_USERS } from "../../clickhouse-schema/names.js";
import { envBoolean, envInteger, envText, type Env, type EnvFail } from "../../runtime/env.js";
import { FieldError } from "../../runtime/errors.js";

/** pino's levels, lowest-volume first; `silent` writes nothing. */
export const INGESTOR_LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const satisfies readonly LevelWithSilent[];
export type IngestorLogLevel = (typeof INGESTOR_LOG_LEVELS)[number];

export interface IngestorConfig {
  readonly nats: {
    readonly servers: readonly string[];
    readonly credsFile: string | undefined;
    readonly consumer: string;
    readonly ensureConsumer: boolean;
    readonly ackWaitMs: number;
    readonly maxDeliver: number;
    readonly backoffMs: readonly number[];
    readonly maxAckPending: number;
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
const boolean = (env: Env, name: string, fallback: boolean): boolean => envBoolean(env, name, fallback, fail);

const DAY_MS = 86_400_000;

/**
 * Messages one replica pulls ahead of its acks: a full batch for each insert in flight and one
 * filling. JetStream's MaxAckPending (shared by the replicas) must leave each this many.
 */
export function prefetchMessages(batch: { readonly maxRows: number; readonly maxInflight: number }): number {
  return batch.maxRows * (batch.maxInflight + 1);
}

/** All options, from `env` (default `process.env`). Throws {@link IngestorConfigError} on the first bad value. */
export function loadIngestorConfig(env: Env = process.env): IngestorConfig {
  const servers = text(env, "INGESTOR_NATS_URL", "nats://127.0.0.1:4222")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const s of servers) {
    if (!/^(nats|tls|wss?):\/\/[^\s]+$/.test(s)) {
      throw new IngestorConfigError("INGESTOR_NATS_URL", s, "is not a NATS URL", "use nats://host:port (comma-separate several)");
    }
  }
  const credsFile = env["INGESTOR_NATS_CREDS"]?.trim() || undefined;
  const consumer = text(env, "INGESTOR_CONSUMER", "swarm-ingestor");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(consumer)) {
    throw new IngestorConfigError("INGESTOR_CONSUMER", consumer, "is not a valid durable consumer name", "use 1-64 letters, digits, '_' or '-'");
  }

  const maxDeliver = integer(env, "INGESTOR_MAX_DELIVER", -1, -1, 1_000_000);
  if (maxDeliver === 0) throw new IngestorConfigError("INGESTOR_MAX_DELIVER", "0", "delivers nothing", "use -1 (unlimited) or a positive number");
  const backoffRaw = text(env, "INGESTOR_BACKOFF_MS", "");
  const backoffMs = backoffRaw === "" ? [] : backoffRaw.split(",").map((s) => s.trim());
  const backoff = backoffMs.map((s) => {
    const v = Number(s);
    if (!/^\d+$/.test(s) || v < 1 || v > DAY_MS) {
      throw new IngestorConfigError("INGESTOR_BACKOFF_MS", backoffRaw, `has ${JSON.stringify(s)}, not a duration in ms from 1 to ${DAY_MS}`, "use comma-separated milliseconds, e.g. 1000,5000,30000");
    }
    return v;
  });
  if (backoff.length > 0 && (maxDeliver === -1 || maxDeliver <= backoff.length)) {
    throw new IngestorConfigError("INGESTOR_BACKOFF_MS", backoffRaw, `has ${backoff.length} steps but INGESTOR_MAX_DELIVER = ${maxDeliver} is not larger (JetStream refuses it)`, "set INGESTOR_MAX_DELIVER above the number of steps, or unset INGESTOR_BACKOFF_MS");
  }

  const url = text(env, "INGESTOR_CLICKHOUSE_URL", "");
  let clickhouse: IngestorConfig["clickhouse"];
  if (url !== "") {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      throw new IngestorConfigError("INGESTOR_CLICKHOUSE_URL", url, "is not a URL", "use http(s)://host:8123, or unset it for the embedded engine", { cause });
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new IngestorConfigError("INGESTOR_CLICKHOUSE_URL", url, "is not an http(s) URL", "use http(s)://host:8123, or unset it for the embedded engine");
    }
    clickhouse = { kind: "http", url, username: text(env, "INGESTOR_CLICKHOUSE_USER", CLICKHOUSE_USERS.ingestor), password: env["INGESTOR_CLICKHOUSE_PASSWORD"] ?? "" };
  } else {
    clickhouse = { kind: "embedded", path: text(env, "INGESTOR_CHDB_PATH", "./.data/chdb") };
  }

  const retryInitial = integer(env, "INGESTOR_RETRY_INITIAL_MS", 200, 1, 60_000);
  const retryMax = integer(env, "INGESTOR_RETRY_MAX_MS", 5_000, 1, 600_000);
  if (retryMax < retryInitial) {
    throw new IngestorConfigError("INGESTOR_RETRY_MAX_MS", String(retryMax), `is less than INGESTOR_RETRY_INITIAL_MS = ${retryInitial}`, "set it at least as large");
  }
  const ackWaitMs = integer(env, "INGESTOR_ACK_WAIT_MS", 30_000, 1_000, 3_600_000);
  const flushIntervalMs = integer(env, "INGESTOR_FLUSH_INTERVAL_MS", 1_000, 10, 60_000);
  if (flushIntervalMs >= ackWaitMs) {
    throw new IngestorConfigError("INGESTOR_FLUSH_INTERVAL_MS", String(flushIntervalMs), `is not below INGESTOR_ACK_WAIT_MS = ${ackWaitMs}: messages would be redelivered while their batch fills`, "make the flush interval a fraction of the ack wait");
  }

  const shutdownTimeoutMs = integer(env, "INGESTOR_SHUTDOWN_TIMEOUT_MS", 15_000, 100, 600_000);
  // A SIGTERM stops asking for messages and takes what the open pull requests still deliver; they
  // end within their expiry, which therefore has to fit in the shutdown bound with room to insert.
  const pullExpiresMs = integer(env, "INGESTOR_PULL_EXPIRES_MS", Math.max(1_000, Math.min(5_000, Math.floor(shutdownTimeoutMs / 2))), 1_000, 60_000);
  if (env["INGESTOR_PULL_EXPIRES_MS"] !== undefined && pullExpiresMs * 2 > shutdownTimeoutMs) {
    throw new IngestorConfigError("INGESTOR_PULL_EXPIRES_MS", String(pullExpiresMs), `is more than half of INGESTOR_SHUTDOWN_TIMEOUT_MS = ${shutdownTimeoutMs}: a SIGTERM waits this long for the open pull requests, then still has to insert and ack`, `set it to at most ${Math.floor(shutdownTimeoutMs / 2)} or raise the shutdown timeout`);
  }

  const maxRows = integer(env, "INGESTOR_BATCH_MAX_ROWS", 10_000, 1, 100_000);
  const maxInflight = integer(env, "INGESTOR_MAX_INFLIGHT_BATCHES", 2, 1, 16);
  const prefetch = prefetchMessages({ maxRows, maxInflight });
  const maxAckPending = integer(env, "INGESTOR_MAX_ACK_PENDING", Math.max(100_000, prefetch), 1, 10_000_000);
  if (maxAckPending < prefetch) {
    throw new IngestorConfigError("INGESTOR_MAX_ACK_PENDING", String(maxAckPending), `is below one replica's prefetch of ${prefetch} messages (INGESTOR_BATCH_MAX_ROWS × (INGESTOR_MAX_INFLIGHT_BATCHES + 1)): batches would never fill and every insert would wait for the flush interval`, `set it to at least ${prefetch} per replica (max replicas × ${prefetch}), or lower the batch size`);
  }

  const httpRaw = text(env, "INGESTOR_HTTP_PORT", "8080");
  const httpPort = httpRaw.toLowerCase() === "off" ? undefined : integer(env, "INGESTOR_HTTP_PORT", 8080, 0, 65_535);

  const logLevelRaw = text(env, "INGESTOR_LOG_LEVEL", "info").toLowerCase();
  const logLevel = INGESTOR_LOG_LEVELS.find((l) => l === logLevelRaw);
  if (logLevel === undefined) {
    throw new IngestorConfigError("INGESTOR_LOG_LEVEL", env["INGESTOR_LOG_LEVEL"] ?? "", "is not a log level", `use one of ${INGESTOR_LOG_LEVELS.join(", ")}, or unset it for info`);
  }

  return {
    nats: {
      servers,
      credsFile,
      consumer,
      ensureConsumer: boolean(env, "INGESTOR_ENSURE_CONSUMER", true),
      ackWaitMs,
      maxDeliver,
      backoffMs: backoff,
      maxAckPending,
      pullExpiresMs,
    },
    clickhouse,
    batch: {
      maxRows,
      maxBytes: integer(env, "INGESTOR_BATCH_MAX_BYTES", 8 * 1024 * 1024, 1_024, 256 * 1024 * 1024),
      flushIntervalMs,
      maxInflight,
    },
    retry: { initialMs: retryInitial, maxMs: retryMax },
    shutdownTimeoutMs,
    httpPort,
    logLevel,
  };
}
