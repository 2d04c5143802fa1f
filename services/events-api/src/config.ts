/**
 * The events API's configuration: every option read from the environment in ONE function,
 * {@link loadEventsApiConfig}, validated at start. A bad value stops the service with an
 * {@link EventsApiConfigError} naming the variable, the value and the fix. Names, defaults and
 * bounds are the service's contract (`../contract.ts`); this table documents them.
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `EVENTS_API_HTTP_PORT` | `8080` | the API, `/healthz`, `/readyz`, `/metrics`; `0` = any free port |
 * | `EVENTS_API_LOG_LEVEL` | `info` | lowest pino level: fatal, error, warn, info, debug, trace or silent |
 * | `EVENTS_API_BODY_LIMIT_BYTES` | `4096` | larger request bodies are refused with 413 |
 * | `EVENTS_API_CLICKHOUSE_URL` | (required) | ClickHouse's HTTP(S) interface, e.g. `http://clickhouse-events.clickhouse.svc.cluster.local:8123` |
 * | `EVENTS_API_CLICKHOUSE_CA_FILE` | (system roots) | PEM of the CA of an https:// ClickHouse URL |
 * | `EVENTS_API_CLICKHOUSE_<TIER>_USER` | `swarm_reader_<tier>` | the tier's reader (free, pro, enterprise) |
 * | `EVENTS_API_CLICKHOUSE_<TIER>_PASSWORD_FILE` | (required) | the mounted file holding that reader's password |
 * | `EVENTS_API_QUERY_TIMEOUT_MS` | `30000` | a ClickHouse query still running after this is abandoned: 504 (100 to 300000) |
 * | `EVENTS_API_TOKEN_ISSUER` | (required) | `iss` of the tenant tokens: the public API's origin (the provisioning service's `PROVISIONING_TOKEN_ISSUER`) |
 * | `EVENTS_API_JWKS_URL` | (required) | the provisioning service's key set, e.g. `http://provisioning.platform.svc.cluster.local:8080/.well-known/jwks.json` |
 * | `EVENTS_API_PROVISIONING_URL` | (required) | the provisioning service's base URL: replays are submitted to its jobs API |
 * | `EVENTS_API_PROVISIONING_TIMEOUT_MS` | `10000` | a jobs-API call unanswered after this: 504 (100 to 120000) |
 * | `EVENTS_API_FDB_CLUSTER_FILE` | (none) | the control-plane store (FoundationDB) the tenants' wrapped data keys are read from |
 * | `EVENTS_API_LMDB_PATH` | (none) | ... or the provisioning service's embedded store directory (development on one host) |
 * | `EVENTS_API_KMS_KEY_ID` | (none) | with a store: the tenant-key CMK; data keys are unwrapped with KMS Decrypt |
 * | `EVENTS_API_AWS_REGION` | (SDK default chain) | region of the KMS key |
 * | `EVENTS_API_LOCAL_KEK_FILE` | (none) | with a store, without KMS: the provisioning service's key-encryption key file |
 * | `EVENTS_API_DATA_KEY_CACHE_SECONDS` | `300` | how long an unwrapped data key (or its absence) is kept in memory (0 to 3600) |
 * | `EVENTS_API_SHUTDOWN_TIMEOUT_MS` | `15000` | SIGTERM: finish requests in flight within this, else exit 1 |
 * | `EVENTS_API_HEADERS_TIMEOUT_MS` | `10000` | headers of a request within this, else 408 and closed (100 to 60000) |
 * | `EVENTS_API_REQUEST_TIMEOUT_MS` | `60000` | the whole request within this, else 408 and closed (not below the headers timeout) |
 * | `EVENTS_API_IDLE_TIMEOUT_MS` | `72000` | a connection without traffic for this long is closed |
 * | `EVENTS_API_MAX_CONNECTIONS` | `1024` | open connections per process; those beyond are closed at once |
 *
 * Without a store (neither `EVENTS_API_FDB_CLUSTER_FILE` nor `EVENTS_API_LMDB_PATH`), encrypted
 * payloads are answered without their plaintext (`payload: null`, reason `key_unavailable`).
 */
import type { ApiServerLimits } from "../../runtime/api-server.js";
import { readFileSync } from "node:fs";
import type { LevelWithSilent } from "pino";
import type { PlanTierName } from "../../../config/tiers.js";
import { envInteger, envText, type Env, type EnvFail } from "../../runtime/env.js";
import { FieldError } from "../../runtime/errors.js";
import {
  EVENTS_API_DEFAULTS as D,
  EVENTS_API_ENV as V,
  EVENTS_API_LIMITS as L,
  EVENTS_API_LOG_LEVELS,
  EVENTS_API_READER_ENV,
  EVENTS_API_READER_USERS,
  EVENTS_API_TIERS,
  httpUrlProblem,
  KMS_KEY_ID_PATTERN,
  type EventsApiLogLevel,
} from "../contract.js";

export { EVENTS_API_DEFAULTS, EVENTS_API_ENV_VARS, EVENTS_API_LOG_LEVELS, type EventsApiLogLevel } from "../contract.js";
/** The contract's levels are pino's (a type check only). */
EVENTS_API_LOG_LEVELS satisfies readonly LevelWithSilent[];

/** One tier's ClickHouse reader. */
export interface ReaderCredentials {
  readonly user: string;
  readonly password: string;
}

/** Where the tier readers connect, and as whom. */
export interface ClickHouseConnection {
  readonly url: string;
  /** PEM of the CA (read at start), for an https:// URL. */
  readonly ca: string | undefined;
  readonly readers: Readonly<Record<PlanTierName, ReaderCredentials>>;
}

/** What the caller of {@link loadEventsApiConfig} brings itself. */
export interface EventsApiConfigOptions {
  /**
   * `"handed-in"`: the caller passes the tier readers to `startEventsApi` (`readers`), so the
   * ClickHouse URL, CA and reader passwords are neither required nor read. Default `"http"`.
   */
  readonly readers?: "http" | "handed-in";
}

/** Where the wrapped data keys are read from, and how they are unwrapped. */
export type DataKeyAccess =
  | { readonly kind: "off" }
  | {
      readonly kind: "store";
      readonly store: { readonly kind: "lmdb"; readonly path: string } | { readonly kind: "fdb"; readonly clusterFile: string };
      readonly provider: { readonly kind: "kms"; readonly keyId: string; readonly region: string | undefined } | { readonly kind: "local"; readonly kekFile: string };
    };

/** The HTTP server's bounds on slow or numerous clients. */
export type EventsApiHttpLimits = ApiServerLimits;

export interface EventsApiConfig {
  readonly httpPort: number;
  readonly logLevel: EventsApiLogLevel;
  readonly bodyLimitBytes: number;
  readonly clickhouse: {
    /**
     * The tier readers' HTTP connection; unset when the caller hands the readers in
     * (`loadEventsApiConfig(env, { readers: "handed-in" })`, e.g. the local platform's embedded engine).
     */
    readonly connection?: ClickHouseConnection;
    readonly queryTimeoutMs: number;
  };
  readonly tokens: { readonly issuer: string; readonly jwksUrl: string };
  readonly provisioning: { readonly url: string; readonly timeoutMs: number };
  readonly dataKeys: DataKeyAccess;
  readonly dataKeyCacheSeconds: number;
  readonly shutdownTimeoutMs: number;
  readonly http: EventsApiHttpLimits;
}

/** A configuration variable with a value the service cannot run with. */
export class EventsApiConfigError extends FieldError {
  override readonly name = "EventsApiConfigError";
  readonly code = "E_EVENTS_API_CONFIG";
  constructor(
    readonly variable: string,
    value: string | undefined,
    problem: string,
    fix: string,
  ) {
    super(variable, value === undefined ? "(missing)" : value, problem, fix);
  }
}

const fail: EnvFail = (variable, value, problem, fix) => {
  throw new EventsApiConfigError(variable, value, problem, fix);
};
const integer = (env: Env, key: keyof typeof L): number => envInteger(env, V[key], D[key], L[key].min, L[key].max, fail);

function httpUrl(name: string, value: string | undefined, example: string): string {
  if (value === undefined) throw new EventsApiConfigError(name, undefined, "is required", `set it, e.g. ${example}`);
  const problem = httpUrlProblem(value);
  if (problem !== undefined) throw new EventsApiConfigError(name, value, problem, `set an http(s) URL without credentials, query or fragment, e.g. ${example}`);
  return value.replace(/\/+$/, "");
}

function readable(name: string, path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new EventsApiConfigError(name, path, `cannot be read (${(error as Error).message})`, `mount ${what} there, or point ${name} at the mounted file`);
  }
}

/**
 * All options, from `env` (default `process.env`). Reads the readers' password files and the CA
 * file once (not at all with `{ readers: "handed-in" }`). Throws {@link EventsApiConfigError} on
 * the first bad value.
 */
export function loadEventsApiConfig(env: Env = process.env, options: EventsApiConfigOptions = {}): EventsApiConfig {
  const logLevel = (envText(env, V.logLevel) ?? D.logLevel) as EventsApiLogLevel;
  if (!EVENTS_API_LOG_LEVELS.includes(logLevel)) throw new EventsApiConfigError(V.logLevel, logLevel, "is not a pino level", `use one of ${EVENTS_API_LOG_LEVELS.join(", ")}`);

  const connection = options.readers === "handed-in" ? undefined : clickhouseConnection(env);

  const issuer = httpUrl(V.tokenIssuer, envText(env, V.tokenIssuer), "https://api.example.com (the provisioning service's PROVISIONING_TOKEN_ISSUER)");
  const jwksUrl = httpUrl(V.jwksUrl, envText(env, V.jwksUrl), "http://provisioning.platform.svc.cluster.local:8080/.well-known/jwks.json");
  const provisioningUrl = httpUrl(V.provisioningUrl, envText(env, V.provisioningUrl), "http://provisioning.platform.svc.cluster.local:8080");

  const headersTimeoutMs = integer(env, "headersTimeoutMs");
  const requestTimeoutMs = integer(env, "requestTimeoutMs");
  if (requestTimeoutMs < headersTimeoutMs) {
    throw new EventsApiConfigError(V.requestTimeoutMs, String(requestTimeoutMs), `is below ${V.headersTimeoutMs} (${headersTimeoutMs})`, `set it to at least ${headersTimeoutMs}, or lower ${V.headersTimeoutMs}`);
  }

  return {
    httpPort: integer(env, "httpPort"),
    logLevel,
    bodyLimitBytes: integer(env, "bodyLimitBytes"),
    clickhouse: { ...(connection === undefined ? {} : { connection }), queryTimeoutMs: integer(env, "queryTimeoutMs") },
    tokens: { issuer, jwksUrl },
    provisioning: { url: provisioningUrl, timeoutMs: integer(env, "provisioningTimeoutMs") },
    dataKeys: dataKeyAccess(env),
    dataKeyCacheSeconds: integer(env, "dataKeyCacheSeconds"),
    shutdownTimeoutMs: integer(env, "shutdownTimeoutMs"),
    http: { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs: integer(env, "idleTimeoutMs"), maxConnections: integer(env, "maxConnections") },
  };
}

/** The tier readers' URL, CA and credentials (the reader passwords are read from their files). */
function clickhouseConnection(env: Env): ClickHouseConnection {
  const clickhouseUrl = httpUrl(V.clickhouseUrl, envText(env, V.clickhouseUrl), "http://clickhouse-events.clickhouse.svc.cluster.local:8123");
  const caFile = envText(env, V.clickhouseCaFile);
  let ca: string | undefined;
  if (caFile) {
    ca = readable(V.clickhouseCaFile, caFile, "the ClickHouse servers' CA certificate (PEM)");
    if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new EventsApiConfigError(V.clickhouseCaFile, caFile, "holds no PEM certificate", "mount the ClickHouse servers' CA certificate (PEM) there");
  }
  const readers = {} as Record<PlanTierName, ReaderCredentials>;
  for (const tier of EVENTS_API_TIERS) {
    const names = EVENTS_API_READER_ENV[tier];
    const user = envText(env, names.user) ?? EVENTS_API_READER_USERS[tier];
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(user)) throw new EventsApiConfigError(names.user, user, "is not a ClickHouse user name", `use letters, digits, '_', '.' or '-', or unset it for ${EVENTS_API_READER_USERS[tier]}`);
    const file = envText(env, names.passwordFile);
    if (file === undefined) throw new EventsApiConfigError(names.passwordFile, undefined, "is required", `mount the ${user} reader's password (the ${tier} tier's reader) and set its path`);
    const password = readable(names.passwordFile, file, `the ${user} reader's password`).trim();
    if (password === "") throw new EventsApiConfigError(names.passwordFile, file, "holds an empty password", `write the ${user} reader's password into it`);
    readers[tier] = { user, password };
  }
  return { url: clickhouseUrl, ca, readers };
}

/** The store and the unwrapping key, both or neither. */
function dataKeyAccess(env: Env): DataKeyAccess {
  const clusterFile = envText(env, V.fdbClusterFile);
  const lmdbPath = envText(env, V.lmdbPath);
  const kmsKeyId = envText(env, V.kmsKeyId);
  const kekFile = envText(env, V.localKekFile);
  if (clusterFile && lmdbPath) throw new EventsApiConfigError(V.lmdbPath, lmdbPath, `is set together with ${V.fdbClusterFile}`, `set one store: ${V.fdbClusterFile} (production) or ${V.lmdbPath} (development)`);
  if (kmsKeyId && kekFile) throw new EventsApiConfigError(V.localKekFile, kekFile, `is set together with ${V.kmsKeyId}`, `set the key the provisioning service wraps data keys with: ${V.kmsKeyId} (production) or ${V.localKekFile}`);
  if (kmsKeyId && !KMS_KEY_ID_PATTERN.test(kmsKeyId)) throw new EventsApiConfigError(V.kmsKeyId, kmsKeyId, "is not a KMS key id, key ARN, alias or alias ARN", "set the tenant-key CMK's ARN or alias/<name> (the provisioning service's PROVISIONING_KMS_KEY_ID)");
  if (!clusterFile && !lmdbPath) {
    if (kmsKeyId || kekFile) {
      const name = kmsKeyId ? V.kmsKeyId : V.localKekFile;
      throw new EventsApiConfigError(name, kmsKeyId ?? kekFile, `is set but no store is (${V.fdbClusterFile} or ${V.lmdbPath})`, `set the store the provisioning service keeps the wrapped data keys in, or unset ${name}`);
    }
    return { kind: "off" };
  }
  const store = clusterFile ? ({ kind: "fdb", clusterFile } as const) : ({ kind: "lmdb", path: lmdbPath as string } as const);
  if (kmsKeyId) return { kind: "store", store, provider: { kind: "kms", keyId: kmsKeyId, region: envText(env, V.awsRegion) } };
  if (kekFile) return { kind: "store", store, provider: { kind: "local", kekFile } };
  throw new EventsApiConfigError(V.kmsKeyId, undefined, `is unset and so is ${V.localKekFile}, with a data-key store set`, `set ${V.kmsKeyId} (production) or ${V.localKekFile} to the key the provisioning service wraps data keys with`);
}
