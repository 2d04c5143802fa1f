/**
 * The events API's contract with whatever deploys it: its HTTP port and paths, the environment
 * variables it reads (names, defaults, bounds and the shapes of their values), its Prometheus
 * metric names and its image's repository name.
 *
 * The events API is the tenants' read path (services/identity/names.ts `EVENTS_API_ROUTES`): it
 * verifies a tenant token, then reads ClickHouse as the token tier's reader
 * (`readerUserName(tier)`, one client per tier, every query bound to the token's tenant by
 * `readerQuerySettings`), decrypts encrypted payloads with the tenant's data key (the wrapped key
 * read from the control-plane store, unwrapped by the same KMS key the provisioning service uses:
 * its role needs `kms:Decrypt` on the tenant-key CMK under the `tenant_id` encryption context),
 * and submits replays through the provisioning service's jobs API with the caller's own token.
 * It holds read credentials for ClickHouse only, and none of the control plane's other secrets.
 *
 * Dependency-free: it imports only other name modules, never an npm package or service code, so
 * a construct builds the Deployment from it without loading the service, and `src/config.ts`
 * reads every variable through {@link EVENTS_API_ENV}.
 */
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";
import { SWARM_DATABASE, readerUserName } from "../clickhouse-schema/names.js";

/** The port of the API, `/healthz`, `/readyz` and `/metrics` (the container's `http` port). */
export const EVENTS_API_HTTP_PORT = 8080;

/** The API's path prefix: every route of `EVENTS_API_ROUTES` is under it (and only those are published). */
export const EVENTS_API_PREFIX = "/v1/";

/** Paths served on {@link EVENTS_API_HTTP_PORT} besides the API under {@link EVENTS_API_PREFIX}. */
export const EVENTS_API_HTTP_PATHS = {
  /** 200 while the process serves HTTP (liveness). */
  health: "/healthz",
  /** 200 while every tier's ClickHouse reader answers a ping and the service is not stopping (readiness). */
  ready: "/readyz",
  /** Prometheus text exposition of {@link EVENTS_API_METRICS}. */
  metrics: "/metrics",
} as const;

/** The repository (ECR) and image name of the service: `<registry>/events-api:<exact tag>`, built from {@link EVENTS_API_DOCKERFILE}. */
export const EVENTS_API_IMAGE_REPOSITORY = "events-api";
/** The Dockerfile of the image, from the repository root. */
export const EVENTS_API_DOCKERFILE = "services/events-api/Dockerfile";

/**
 * The variables of one tier's ClickHouse reader: its user name (default `readerUserName(tier)`)
 * and the path of the mounted file holding its password (required).
 */
export const EVENTS_API_READER_ENV = {
  free: { user: "EVENTS_API_CLICKHOUSE_FREE_USER", passwordFile: "EVENTS_API_CLICKHOUSE_FREE_PASSWORD_FILE" },
  pro: { user: "EVENTS_API_CLICKHOUSE_PRO_USER", passwordFile: "EVENTS_API_CLICKHOUSE_PRO_PASSWORD_FILE" },
  enterprise: { user: "EVENTS_API_CLICKHOUSE_ENTERPRISE_USER", passwordFile: "EVENTS_API_CLICKHOUSE_ENTERPRISE_PASSWORD_FILE" },
} as const satisfies Record<PlanTierName, { readonly user: `EVENTS_API_${string}`; readonly passwordFile: `EVENTS_API_${string}` }>;

/** Every environment variable the service reads, by role. Nothing else is read. */
export const EVENTS_API_ENV = {
  httpPort: "EVENTS_API_HTTP_PORT",
  logLevel: "EVENTS_API_LOG_LEVEL",
  bodyLimitBytes: "EVENTS_API_BODY_LIMIT_BYTES",
  /** ClickHouse HTTP(S) URL (the installation's service, `clickhouseHttpUrl(name)`). Required. */
  clickhouseUrl: "EVENTS_API_CLICKHOUSE_URL",
  /** PEM of the CA of an https:// ClickHouse URL, mounted. @default - system roots */
  clickhouseCaFile: "EVENTS_API_CLICKHOUSE_CA_FILE",
  clickhouseFreeUser: EVENTS_API_READER_ENV.free.user,
  clickhouseFreePasswordFile: EVENTS_API_READER_ENV.free.passwordFile,
  clickhouseProUser: EVENTS_API_READER_ENV.pro.user,
  clickhouseProPasswordFile: EVENTS_API_READER_ENV.pro.passwordFile,
  clickhouseEnterpriseUser: EVENTS_API_READER_ENV.enterprise.user,
  clickhouseEnterprisePasswordFile: EVENTS_API_READER_ENV.enterprise.passwordFile,
  /** A ClickHouse request (one query) still running after this is abandoned: 504. */
  queryTimeoutMs: "EVENTS_API_QUERY_TIMEOUT_MS",
  /** `iss` of the tenant tokens: the public API's origin, `https://<api domain>` (the provisioning service's PROVISIONING_TOKEN_ISSUER). Required. */
  tokenIssuer: "EVENTS_API_TOKEN_ISSUER",
  /** The provisioning service's key set inside the cluster (`<provisioning>/.well-known/jwks.json`). Required. */
  jwksUrl: "EVENTS_API_JWKS_URL",
  /** Base URL of the provisioning service inside the cluster: replays are submitted to its jobs API. Required. */
  provisioningUrl: "EVENTS_API_PROVISIONING_URL",
  /** A jobs-API call still unanswered after this is abandoned: 504. */
  provisioningTimeoutMs: "EVENTS_API_PROVISIONING_TIMEOUT_MS",
  /**
   * Where the tenants' wrapped data keys are read from (the provisioning service's control-plane
   * store): the FoundationDB cluster file (production), mounted like the provisioning service's.
   */
  fdbClusterFile: "EVENTS_API_FDB_CLUSTER_FILE",
  /** ... or the provisioning service's embedded LMDB directory (development, same host). Neither set: encrypted payloads are answered without their plaintext. */
  lmdbPath: "EVENTS_API_LMDB_PATH",
  /** The tenant-key CMK (the provisioning service's PROVISIONING_KMS_KEY_ID): data keys are unwrapped with KMS Decrypt. */
  kmsKeyId: "EVENTS_API_KMS_KEY_ID",
  awsRegion: "EVENTS_API_AWS_REGION",
  /** Without KMS: the provisioning service's 32-byte key-encryption key file (raw, hex or base64). */
  localKekFile: "EVENTS_API_LOCAL_KEK_FILE",
  /** How long an unwrapped data key (or its absence) is kept in memory: an offboarded tenant's payloads stop decrypting within this. 0 = never cached. */
  dataKeyCacheSeconds: "EVENTS_API_DATA_KEY_CACHE_SECONDS",
  shutdownTimeoutMs: "EVENTS_API_SHUTDOWN_TIMEOUT_MS",
  headersTimeoutMs: "EVENTS_API_HEADERS_TIMEOUT_MS",
  requestTimeoutMs: "EVENTS_API_REQUEST_TIMEOUT_MS",
  idleTimeoutMs: "EVENTS_API_IDLE_TIMEOUT_MS",
  maxConnections: "EVENTS_API_MAX_CONNECTIONS",
} as const;

/** The names of {@link EVENTS_API_ENV}. */
export type EventsApiEnvVar = (typeof EVENTS_API_ENV)[keyof typeof EVENTS_API_ENV];

/** Every variable the service reads (the construct sets only these). */
export const EVENTS_API_ENV_VARS: readonly EventsApiEnvVar[] = Object.values(EVENTS_API_ENV);

/** The tiers whose readers the service holds (one ClickHouse client each). */
export const EVENTS_API_TIERS = PLAN_TIER_NAMES;

/** pino's levels, lowest-volume first; `silent` writes nothing (`src/config.ts` checks them against pino's type). */
export const EVENTS_API_LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type EventsApiLogLevel = (typeof EVENTS_API_LOG_LEVELS)[number];

/** The database every query reads (the event store's). */
export const EVENTS_API_DATABASE = SWARM_DATABASE;

/** The default user of each tier's reader: `readerUserName(tier)`. */
export const EVENTS_API_READER_USERS: Readonly<Record<PlanTierName, string>> = {
  free: readerUserName("free"),
  pro: readerUserName("pro"),
  enterprise: readerUserName("enterprise"),
};

/** Values of the variables when unset (variables without an entry are required or have no default). */
export const EVENTS_API_DEFAULTS = {
  httpPort: EVENTS_API_HTTP_PORT,
  logLevel: "info",
  bodyLimitBytes: 4_096,
  queryTimeoutMs: 30_000,
  provisioningTimeoutMs: 10_000,
  dataKeyCacheSeconds: 300,
  shutdownTimeoutMs: 15_000,
  /** A connection must deliver its request's headers within this (else 408 and closed). */
  headersTimeoutMs: 10_000,
  /** ... and the whole request within this; above the query timeout so a slow query answers 504 first. */
  requestTimeoutMs: 60_000,
  /** A connection with no bytes in either direction for this long is closed (also an idle keep-alive one). */
  idleTimeoutMs: 72_000,
  /** Open connections per process; the ones beyond are closed at once. */
  maxConnections: 1_024,
  healthPath: EVENTS_API_HTTP_PATHS.health,
  readyPath: EVENTS_API_HTTP_PATHS.ready,
  metricsPath: EVENTS_API_HTTP_PATHS.metrics,
} as const satisfies { readonly logLevel: EventsApiLogLevel } & Record<string, string | number>;

/** Inclusive bounds of the whole-number variables. */
export const EVENTS_API_LIMITS = {
  httpPort: { min: 0, max: 65_535 },
  bodyLimitBytes: { min: 256, max: 65_536 },
  queryTimeoutMs: { min: 100, max: 300_000 },
  provisioningTimeoutMs: { min: 100, max: 120_000 },
  dataKeyCacheSeconds: { min: 0, max: 3_600 },
  shutdownTimeoutMs: { min: 100, max: 600_000 },
  headersTimeoutMs: { min: 100, max: 60_000 },
  requestTimeoutMs: { min: 100, max: 600_000 },
  idleTimeoutMs: { min: 100, max: 600_000 },
  maxConnections: { min: 1, max: 65_535 },
} as const satisfies Partial<Record<keyof typeof EVENTS_API_ENV, { readonly min: number; readonly max: number }>>;

/**
 * Page sizes of the paged routes (`limit`): unset means `default`; above `max` is a 400. A tier's
 * reader profile bounds result rows too (`max_result_rows`, answered 429 when crossed).
 */
export const EVENTS_API_PAGE = { default: 100, max: 1_000 } as const;

/** The hashes a replay's 404 lists when the requested one is unknown for the resource. */
export const EVENTS_API_KNOWN_HASHES_MAX = 20;

/** The job type a replay submits through the provisioning service's jobs API. */
export const REPLAY_JOB_TYPE = "state.revert";

/** `EVENTS_API_KMS_KEY_ID`: a key id, key ARN, alias or alias ARN (the same shapes as the provisioning service's). */
export const KMS_KEY_ID_PATTERN = /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f-]{36})$/;

/** Why a value is not an http(s) URL the service accepts (ClickHouse, issuer, JWKS, provisioning), or undefined when it is. */
export function httpUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not a URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "is not an http(s) URL";
  if (url.search || url.hash) return "carries a query or fragment";
  if (url.username || url.password) return "carries credentials";
  return undefined;
}

/**
 * Names, types and help texts of every Prometheus series the service exports: the one home of
 * these names. Histograms are exposed with Prometheus' `_bucket`, `_sum` and `_count` series.
 */
export const EVENTS_API_METRICS = {
  requests: { name: "events_api_http_requests_total", type: "counter", help: "HTTP requests, by route, method and status." },
  duration: { name: "events_api_http_request_duration_seconds", type: "histogram", help: "HTTP request duration, by route and method." },
  queryDuration: { name: "events_api_query_duration_seconds", type: "histogram", help: "ClickHouse query duration, by route and tier." },
  queryErrors: { name: "events_api_query_errors_total", type: "counter", help: "ClickHouse queries that failed, by route, tier and kind (too_many_rows, timeout, quota, unexpected)." },
  replays: { name: "events_api_replays_total", type: "counter", help: "Replays, by outcome (submitted, duplicate, unknown_state, refused, failed)." },
  decryptions: { name: "events_api_payload_decryptions_total", type: "counter", help: "Encrypted payloads answered, by outcome (decrypted, key_destroyed, key_unavailable, failed)." },
} as const satisfies Record<string, { readonly name: `events_api_${string}`; readonly type: "counter" | "histogram" | "gauge"; readonly help: string }>;

/** The label names of {@link EVENTS_API_METRICS}' series. */
export const EVENTS_API_METRIC_LABELS = {
  requests: ["route", "method", "status"],
  duration: ["route", "method"],
  queryDuration: ["route", "tier"],
  queryErrors: ["route", "tier", "kind"],
  replays: ["outcome"],
  decryptions: ["outcome"],
} as const satisfies Record<keyof typeof EVENTS_API_METRICS, readonly string[]>;
