/**
 * The provisioning service's contract with whatever deploys it: its HTTP port and paths, the
 * environment variables it reads (names, defaults, bounds and the shapes of their values) and
 * its Prometheus metric names.
 *
 * Dependency-free: it imports only other name modules, never an npm package or service code, so
 * `constructs/provisioning.ts` checks its props against it without loading the service, and
 * `src/config.ts` reads every variable through {@link PROVISIONING_ENV}.
 */
import { CLICKHOUSE_USERS } from "../clickhouse-schema/names.js";
import { TENANT_TOKEN } from "../identity/names.js";
import { API_AUDIENCE, REALM_NAME } from "../keycloak-realm/names.js";

/** The port of the API, `/healthz`, `/readyz` and `/metrics` (the container's `http` port). */
export const PROVISIONING_HTTP_PORT = 8080;

/** The API's path prefix: every route of the tenant lifecycle is under it (and only those are published). */
export const PROVISIONING_API_PREFIX = "/v1/";

/** Paths served on {@link PROVISIONING_HTTP_PORT} besides the API under {@link PROVISIONING_API_PREFIX}. */
export const PROVISIONING_HTTP_PATHS = {
  health: "/healthz",
  ready: "/readyz",
  metrics: "/metrics",
} as const;

/** Every environment variable the service reads, by role. Nothing else is read. */
export const PROVISIONING_ENV = {
  httpPort: "PROVISIONING_HTTP_PORT",
  logLevel: "PROVISIONING_LOG_LEVEL",
  bodyLimitBytes: "PROVISIONING_BODY_LIMIT_BYTES",
  lmdbPath: "PROVISIONING_LMDB_PATH",
  fdbClusterFile: "PROVISIONING_FDB_CLUSTER_FILE",
  oidcIssuer: "PROVISIONING_OIDC_ISSUER",
  oidcAudience: "PROVISIONING_OIDC_AUDIENCE",
  jwksUrl: "PROVISIONING_JWKS_URL",
  keycloak: "PROVISIONING_KEYCLOAK",
  keycloakUrl: "PROVISIONING_KEYCLOAK_URL",
  keycloakRealm: "PROVISIONING_KEYCLOAK_REALM",
  keycloakClientSecretFile: "PROVISIONING_KEYCLOAK_CLIENT_SECRET_FILE",
  kmsKeyId: "PROVISIONING_KMS_KEY_ID",
  awsRegion: "PROVISIONING_AWS_REGION",
  localKekFile: "PROVISIONING_LOCAL_KEK_FILE",
  natsSigningKeysDir: "PROVISIONING_NATS_SIGNING_KEYS_DIR",
  natsAccount: "PROVISIONING_NATS_ACCOUNT",
  natsUrl: "PROVISIONING_NATS_URL",
  natsSystemCredsFile: "PROVISIONING_NATS_SYSTEM_CREDS_FILE",
  natsTlsCaFile: "PROVISIONING_NATS_TLS_CA_FILE",
  /** Comma-separated NATS URLs agents connect to (the credentials answer's `servers`): the external TLS listener, or the in-cluster service. */
  natsPublicUrls: "PROVISIONING_NATS_PUBLIC_URLS",
  /** PEM of the CA of the servers at those URLs (the credentials answer's `ca`). */
  natsPublicCaFile: "PROVISIONING_NATS_PUBLIC_CA_FILE",
  /** The service's platform-account user (`provisioning.creds` of nats:bootstrap): the jobs API and the workers' credential requests. */
  natsPlatformCredsFile: "PROVISIONING_NATS_PLATFORM_CREDS_FILE",
  credentialsTtlSeconds: "PROVISIONING_CREDENTIALS_TTL_SECONDS",
  shutdownTimeoutMs: "PROVISIONING_SHUTDOWN_TIMEOUT_MS",
  headersTimeoutMs: "PROVISIONING_HEADERS_TIMEOUT_MS",
  requestTimeoutMs: "PROVISIONING_REQUEST_TIMEOUT_MS",
  idleTimeoutMs: "PROVISIONING_IDLE_TIMEOUT_MS",
  maxConnections: "PROVISIONING_MAX_CONNECTIONS",
  tokenIssuer: "PROVISIONING_TOKEN_ISSUER",
  tenantTokenTtlSeconds: "PROVISIONING_TENANT_TOKEN_TTL_SECONDS",
  signingKeyRotationDays: "PROVISIONING_SIGNING_KEY_ROTATION_DAYS",
  billingWebhookSecretFile: "PROVISIONING_BILLING_WEBHOOK_SECRET_FILE",
  invitationTtlSeconds: "PROVISIONING_INVITATION_TTL_SECONDS",
  smtpUrl: "PROVISIONING_SMTP_URL",
  smtpCredentialsFile: "PROVISIONING_SMTP_CREDENTIALS_FILE",
  mailFrom: "PROVISIONING_MAIL_FROM",
  consoleUrl: "PROVISIONING_CONSOLE_URL",
  /**
   * ClickHouse HTTP(S) URL of the event store (the installation's service, `clickhouseHttpUrl(name)`):
   * the outbox writes each tenant's plan row (`tenant_plans`) and deletes an offboarded tenant's
   * events and usage there. Unset = no event store: those effects fail and are retried (their
   * `lastError` says so) until it is set.
   */
  clickhouseUrl: "PROVISIONING_CLICKHOUSE_URL",
  /** The event store's user: the lifecycle user (INSERT/SELECT on plans, SELECT/ALTER DELETE on events and usage). */
  clickhouseUser: "PROVISIONING_CLICKHOUSE_USER",
  /** Path of the mounted file holding that user's password (required with the URL). */
  clickhousePasswordFile: "PROVISIONING_CLICKHOUSE_PASSWORD_FILE",
  /** PEM of the CA of an https:// ClickHouse URL, mounted. @default - system roots */
  clickhouseCaFile: "PROVISIONING_CLICKHOUSE_CA_FILE",
  /** `true` (the cluster construct's topology: deletions run `ON CLUSTER` on the per-shard tables) or `false` (one server migrated without replication). */
  clickhouseReplicated: "PROVISIONING_CLICKHOUSE_REPLICATED",
  /** A ClickHouse request (one statement: a plan insert, a deletion, a count) still running after this fails, and its effect is retried. */
  clickhouseTimeoutMs: "PROVISIONING_CLICKHOUSE_TIMEOUT_MS",
} as const;

/** The names of {@link PROVISIONING_ENV}. */
export type ProvisioningEnvVar = (typeof PROVISIONING_ENV)[keyof typeof PROVISIONING_ENV];

/** Every variable the service reads (the construct sets only these). */
export const PROVISIONING_ENV_VARS: readonly ProvisioningEnvVar[] = Object.values(PROVISIONING_ENV);

/** pino's levels, lowest-volume first; `silent` writes nothing (`src/config.ts` checks them against pino's type). */
export const PROVISIONING_LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type ProvisioningLogLevel = (typeof PROVISIONING_LOG_LEVELS)[number];

/** Defaults of the variables (and the probe paths), for the construct and for the service's loader. */
export const PROVISIONING_DEFAULTS = {
  httpPort: PROVISIONING_HTTP_PORT,
  logLevel: "info",
  bodyLimitBytes: 16_384,
  lmdbPath: "./.data/provisioning",
  audience: API_AUDIENCE,
  realm: REALM_NAME,
  credentialsTtlSeconds: 3_600,
  shutdownTimeoutMs: 15_000,
  /** A connection must deliver its request's headers within this (else 408 and closed). */
  headersTimeoutMs: 10_000,
  /** ... and the whole request, headers and body, within this (else 408 and closed). */
  requestTimeoutMs: 30_000,
  /** A connection with no bytes in either direction for this long is closed (also an idle keep-alive one). */
  idleTimeoutMs: 72_000,
  /** Open connections per process; the ones beyond are closed at once. */
  maxConnections: 1_024,
  /** Lifetime of a tenant token: a removed member keeps access at most this long. */
  tenantTokenTtlSeconds: TENANT_TOKEN.lifetimeSeconds,
  /** A new tenant-token signing key after this many days. */
  signingKeyRotationDays: 30,
  /** An invitation works once, until this long after it was sent. */
  invitationTtlSeconds: 7 * 86_400,
  /** The lifecycle user of the event store (`CLICKHOUSE_USERS.lifecycle`). */
  clickhouseUser: CLICKHOUSE_USERS.lifecycle,
  /** The cluster construct's event store is replicated (`ON CLUSTER` deletions). */
  clickhouseReplicated: "true",
  clickhouseTimeoutMs: 60_000,
  healthPath: PROVISIONING_HTTP_PATHS.health,
  readyPath: PROVISIONING_HTTP_PATHS.ready,
  metricsPath: PROVISIONING_HTTP_PATHS.metrics,
} as const satisfies { readonly logLevel: ProvisioningLogLevel } & Record<string, string | number>;

/** Inclusive bounds of the whole-number variables. */
export const PROVISIONING_LIMITS = {
  httpPort: { min: 0, max: 65_535 },
  bodyLimitBytes: { min: 256, max: 1_048_576 },
  credentialsTtlSeconds: { min: 60, max: 86_400 },
  shutdownTimeoutMs: { min: 100, max: 600_000 },
  headersTimeoutMs: { min: 100, max: 60_000 },
  requestTimeoutMs: { min: 100, max: 300_000 },
  idleTimeoutMs: { min: 100, max: 600_000 },
  maxConnections: { min: 1, max: 65_535 },
  tenantTokenTtlSeconds: TENANT_TOKEN.lifetimeBounds,
  signingKeyRotationDays: { min: 1, max: 365 },
  invitationTtlSeconds: { min: 300, max: 30 * 86_400 },
  clickhouseTimeoutMs: { min: 1_000, max: 600_000 },
} as const satisfies Partial<Record<keyof typeof PROVISIONING_ENV, { readonly min: number; readonly max: number }>>;

/**
 * Files besides `<tier>.seed` in `PROVISIONING_NATS_SIGNING_KEYS_DIR`: the operator's signing key
 * of tenant accounts and the platform account's activation-token signing key.
 */
export const NATS_ACCOUNT_KEY_FILES = { tenantAccounts: "tenant-account-signing-key.seed", tenantImports: "tenant-import-signing-key.seed" } as const;

/** `PROVISIONING_NATS_ACCOUNT`: an account public nkey, `A` and 55 base32 characters. */
export const NATS_ACCOUNT_PUBLIC_KEY_PATTERN = /^A[A-Z2-7]{55}$/;
/** `PROVISIONING_KMS_KEY_ID`: a key id, key ARN, alias or alias ARN. */
export const KMS_KEY_ID_PATTERN = /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f-]{36})$/;
/** `PROVISIONING_KEYCLOAK_REALM`: a realm name. */
export const KEYCLOAK_REALM_PATTERN = /^[A-Za-z0-9_-]{1,100}$/;

/** Why a value is not an http(s) URL the service accepts (issuer, JWKS, Keycloak), or undefined when it is. */
export function httpUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not a URL";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "is not an http(s) URL";
  if (url.search || url.hash) return "carries a query or fragment";
  return undefined;
}

/** Names and help texts of every Prometheus series the service exports: the one home of these names. */
export const PROVISIONING_METRICS = {
  requests: { name: "provisioning_http_requests_total", help: "HTTP requests, by route, method and status." },
  duration: { name: "provisioning_http_request_duration_seconds", help: "HTTP request duration, by route and method." },
  tenantsCreated: { name: "provisioning_tenants_created_total", help: "Tenants created (not counting idempotent replays)." },
  tenantsOffboarded: { name: "provisioning_tenants_offboarded_total", help: "Tenants offboarded." },
  credentialsMinted: { name: "provisioning_bus_credentials_minted_total", help: "Bus credentials minted." },
  tenantTokens: { name: "provisioning_tenant_tokens_issued_total", help: "Tenant tokens issued." },
  billingEvents: { name: "provisioning_billing_events_total", help: "Billing webhook deliveries, by outcome (applied, stale, replayed, refused)." },
  outboxApplied: { name: "provisioning_outbox_applied_total", help: "Outbox effects applied, by kind." },
  outboxFailed: { name: "provisioning_outbox_failures_total", help: "Failed outbox attempts (retried), by kind." },
  outboxReady: { name: "provisioning_outbox_ready_entries", help: "Outbox entries ready at the worker's last poll." },
} as const satisfies Record<string, { readonly name: `provisioning_${string}`; readonly help: string }>;

/**
 * The bound, in seconds, within which a revoked bus credential (or every credential of an
 * offboarded tenant) stops publishing: the revocation commits with its outbox entry, the outbox
 * worker is woken at once and pushes the tenant's account JWT, and the servers close the
 * credential's connections and refuse it from then on. A failed push is retried with backoff, so
 * the bound holds while the NATS cluster is reachable. test/agents/loop.test.ts measures it.
 */
export const BUS_REVOCATION_SECONDS = 5;
