/**
 * The worker runtime's contract with whatever deploys it: its HTTP port and paths, the
 * environment variables it reads (names, defaults and bounds), its Prometheus metric names and
 * the job message it runs. Dependency-free (name modules only), so `constructs/workers.ts` builds
 * the `workers-<tier>` Deployments from it without loading the runtime, and `src/config.ts`
 * reads every variable through {@link WORKER_ENV}.
 *
 * A worker of tier T: pulls jobs from the durable consumer `workers-T` on `SWARM_JOBS` with its
 * own platform-account user (services/nats-auth/claims.ts `workerUserPermissions`), asks the
 * provisioning service for short-lived credentials of each job's tenant
 * (`platform.credentials.T`), runs the job's handler with an SDK client of those credentials
 * (so a handler can publish only into its tenant's subjects), acks after the handler finished,
 * and dead-letters a job on `workers.dlq.T` when its last delivery fails.
 */
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { CLICKHOUSE_USERS } from "../clickhouse-schema/names.js";

/** The port of `/healthz`, `/readyz` and `/metrics` (the container's `http` port). */
export const WORKER_HTTP_PORT = 8080;

/** Paths served on {@link WORKER_HTTP_PORT}. */
export const WORKER_HTTP_PATHS = {
  /** 200 while the NATS connection is open (liveness). */
  health: "/healthz",
  /** 200 while the worker pulls jobs (readiness). */
  ready: "/readyz",
  /** Prometheus text exposition of {@link WORKER_METRICS}. */
  metrics: "/metrics",
} as const;

/** Every environment variable the worker reads, by role. Nothing else is read. */
export const WORKER_ENV = {
  /** The plan tier whose lane this pool runs (one of PLAN_TIER_NAMES). Required. */
  tier: "WORKER_TIER",
  /** NATS URL(s), comma-separated (the in-cluster service). Required. */
  natsUrl: "WORKER_NATS_URL",
  /** The tier's worker user (`workers-<tier>.creds`, from nats:bootstrap), mounted read-only. Required. */
  natsCredsFile: "WORKER_NATS_CREDS_FILE",
  /** PEM of the CA that signed the NATS servers' certificate, mounted. @default - system roots */
  natsCaFile: "WORKER_NATS_CA_FILE",
  /** Base URL of the provisioning service inside the cluster: the tenants' data keys (encrypted payloads). */
  provisioningUrl: "WORKER_PROVISIONING_URL",
  /** ClickHouse HTTP URL the handlers read their tenant's history from. @default - no history (handlers that need it fail) */
  clickhouseUrl: "WORKER_CLICKHOUSE_URL",
  clickhouseUser: "WORKER_CLICKHOUSE_USER",
  clickhousePasswordFile: "WORKER_CLICKHOUSE_PASSWORD_FILE",
  /** Jobs run at once by one worker process. */
  concurrency: "WORKER_CONCURRENCY",
  /** A handler still running after this is abandoned and its job retried. */
  handlerTimeoutMs: "WORKER_HANDLER_TIMEOUT_MS",
  /** How long a stop waits for running jobs before it leaves them to redelivery. */
  shutdownTimeoutMs: "WORKER_SHUTDOWN_TIMEOUT_MS",
  httpPort: "WORKER_HTTP_PORT",
  logLevel: "WORKER_LOG_LEVEL",
} as const;

export type WorkerEnvVar = (typeof WORKER_ENV)[keyof typeof WORKER_ENV];
export const WORKER_ENV_VARS: readonly WorkerEnvVar[] = Object.values(WORKER_ENV);

export const WORKER_LOG_LEVELS = ["silent", "fatal", "error", "warn", "info", "debug", "trace"] as const;
export type WorkerLogLevel = (typeof WORKER_LOG_LEVELS)[number];

/** The tiers a worker pool may run (every pooled tier). */
export const WORKER_TIERS = PLAN_TIER_NAMES;

/** Values of the variables when unset. */
export const WORKER_DEFAULTS = {
  httpPort: WORKER_HTTP_PORT,
  logLevel: "info",
  concurrency: 4,
  handlerTimeoutMs: 120_000,
  shutdownTimeoutMs: 30_000,
  clickhouseUser: CLICKHOUSE_USERS.workers,
} as const satisfies { readonly logLevel: WorkerLogLevel } & Record<string, string | number>;

/** Inclusive bounds of the whole-number variables. */
export const WORKER_LIMITS = {
  httpPort: { min: 0, max: 65_535 },
  concurrency: { min: 1, max: 256 },
  handlerTimeoutMs: { min: 1_000, max: 3_600_000 },
  shutdownTimeoutMs: { min: 100, max: 600_000 },
} as const satisfies Partial<Record<keyof typeof WORKER_ENV, { readonly min: number; readonly max: number }>>;

/** Headers of a dead-lettered job (`workers.dlq.<tier>`), besides the job's own. */
export const JOB_DEAD_LETTER_HEADERS = {
  tenant: "Enchanted-Tenant-Id",
  subject: "Enchanted-Original-Subject",
  deliveries: "Enchanted-Deliveries",
  error: "Enchanted-Error",
  streamSequence: "Enchanted-Stream-Sequence",
} as const;

/** The header every job carries its id in (also JetStream's de-duplication id). */
export const JOB_ID_HEADER = "Nats-Msg-Id";

/** Names and help texts of every Prometheus series the worker exports. */
export const WORKER_METRICS = {
  jobs: { name: "worker_jobs_total", help: "Jobs finished, by tier, job type and outcome (ok, retried, dead_lettered, refused)." },
  duration: { name: "worker_job_duration_seconds", help: "Handler run time, by tier and job type." },
  running: { name: "worker_jobs_running", help: "Jobs running now." },
  credentials: { name: "worker_tenant_credentials_total", help: "Tenant credentials obtained from the provisioning service, by outcome." },
} as const satisfies Record<string, { readonly name: `worker_${string}`; readonly help: string }>;

/** A job as it travels in a tier's lane (JSON): what the jobs API publishes and the worker runs. */
export interface JobMessage {
  /** A lower-case UUID, also the message's {@link JOB_ID_HEADER}. */
  readonly jobId: string;
  /** The handler that runs it (`changes.digest`). */
  readonly type: string;
  readonly tenantId: string;
  readonly projectId: string;
  readonly input: Readonly<Record<string, unknown>>;
  /** The tenant member who submitted it: the `user_id` of the events it emits. */
  readonly submittedBy: string;
  readonly submittedAt: string;
}
