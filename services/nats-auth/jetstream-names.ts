/**
 * Names of the event bus's JetStream topology: the one home of every stream name, subject and
 * consumer name. Dependency-free (no npm package), so the services' contracts and the constructs
 * can import it without loading a NATS client; `streams.ts` (the stream declarations) and
 * `consumers.ts` (the consumer declarations) re-export and build on these.
 */
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../config/tiers.js";

/** Stream names. */
export const STREAM_NAMES = {
  events: "SWARM_EVENTS",
  jobs: "SWARM_JOBS",
} as const;

export type SwarmStreamKey = keyof typeof STREAM_NAMES;

/**
 * The ingestor's dead-letter stream and its subject root, `ingestor.dlq.<reason>`: outside the
 * `swarm.` root, where every tenant may publish under its own id (a tenant named `dlq` could
 * otherwise write dead letters).
 */
export const DEAD_LETTER_STREAM = "SWARM_EVENTS_DLQ";
export const DEAD_LETTER_SUBJECT_PREFIX = "ingestor.dlq";
/** What the dead-letter stream captures: `ingestor.dlq.<reason>`. */
export const DEAD_LETTER_SUBJECTS = `${DEAD_LETTER_SUBJECT_PREFIX}.*`;

/** Root token of every tenant subject: `swarm.<tenant>.…`. */
export const SUBJECT_ROOT = "swarm";

/**
 * The job lane of a plan tier: `swarm.*.jobs.<tier>`. Jobs carry their tenant's tier as the last
 * token so that each tier's worker pool can own a consumer on the work-queue stream (JetStream
 * refuses overlapping consumers on a work queue, and `swarm.<tenant>.jobs` alone says nothing of
 * the tier). A tenant cannot pick its lane: its tier's signing key denies the other lanes.
 */
export function jobLane(tier: PlanTierName): string {
  return `${SUBJECT_ROOT}.*.jobs.${tier}`;
}

/** Subjects each stream captures: `swarm.{tenant_id}.{project_id}.events`, and one job lane per tier. */
export const STREAM_SUBJECTS = {
  events: `${SUBJECT_ROOT}.*.*.events`,
  jobs: PLAN_TIER_NAMES.map(jobLane),
} as const;

/**
 * What `SWARM_EVENTS` stores an event under: `swarm.<tenant>.events`, one subject per tenant.
 * The stream's subject transform drops the project token (the payload carries `project_id`), so
 * the stream's per-subject limit is a per-tenant limit that no choice of project ids escapes.
 * The ingestor's consumer filters on this form.
 */
export const STORED_EVENT_SUBJECTS = `${SUBJECT_ROOT}.*.events`;

/** The subject transform of `SWARM_EVENTS`: `swarm.<tenant>.<project>.events` → `swarm.<tenant>.events`. */
export const EVENT_SUBJECT_TRANSFORM = { src: STREAM_SUBJECTS.events, dest: `${SUBJECT_ROOT}.{{wildcard(1)}}.events` } as const;

/** The subject one tenant's events are stored under in `SWARM_EVENTS`. */
export function storedEventSubject(tenantId: string): string {
  return `${SUBJECT_ROOT}.${assertTenantId(tenantId)}.events`;
}

/** The durable consumer a pooled tier's worker pool reads its job lane of `SWARM_JOBS` from. */
export function workerConsumerName(tier: PlanTierName): string {
  return `workers-${tier}`;
}

/** What a project id may look like: one subject token (the ingestor checks payloads against it too). */
export const PROJECT_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** The subject a tenant's project publishes agent events to. */
export function eventSubject(tenantId: string, projectId: string): string {
  assertTenantId(tenantId);
  if (!PROJECT_ID_PATTERN.test(projectId)) {
    throw new RangeError(`projectId = ${JSON.stringify(projectId)} is not one subject token. Fix: use 1-128 letters, digits, "_" or "-".`);
  }
  return `${SUBJECT_ROOT}.${tenantId}.${projectId}.events`;
}

/** The subject a tenant of `tier` publishes jobs to: `swarm.<tenant>.jobs.<tier>`. */
export function jobSubject(tenantId: string, tier: PlanTierName): string {
  return `${SUBJECT_ROOT}.${assertTenantId(tenantId)}.jobs.${tier}`;
}

/**
 * The workers' dead-letter stream and its subject root, `workers.dlq.<tier>`: a job that failed on
 * every one of its consumer's deliveries is published here by the worker (headers carry the
 * tenant, the original subject, the deliveries and the last error) and then terminated. Outside
 * the `swarm.` root, so no tenant can write dead letters.
 */
export const JOB_DEAD_LETTER_STREAM = "SWARM_JOBS_DLQ";
export const JOB_DEAD_LETTER_SUBJECT_PREFIX = "workers.dlq";
/** What the job dead-letter stream captures: `workers.dlq.<tier>`. */
export const JOB_DEAD_LETTER_SUBJECTS = `${JOB_DEAD_LETTER_SUBJECT_PREFIX}.*`;

/** The subject a tier's workers dead-letter its jobs to. */
export function jobDeadLetterSubject(tier: PlanTierName): string {
  return `${JOB_DEAD_LETTER_SUBJECT_PREFIX}.${tier}`;
}

/**
 * Where a tier's workers ask the provisioning service (a request on the platform account) for
 * short-lived credentials of the tenant whose job they run: `platform.credentials.<tier>`. The
 * server's permissions let a tier's worker user publish only its own tier's subject, so the tier
 * token is authoritative; the service answers only for an active tenant of that tier.
 */
export const WORKER_CREDENTIALS_SUBJECT_PREFIX = "platform.credentials";
export function workerCredentialsSubject(tier: PlanTierName): string {
  return `${WORKER_CREDENTIALS_SUBJECT_PREFIX}.${tier}`;
}
/** The queue group the provisioning replicas answer worker credential requests in. */
export const WORKER_CREDENTIALS_QUEUE = "provisioning";

/** The inbox prefix of a tier's worker user (its only subscribable subjects besides none). */
export function workerInboxPrefix(tier: PlanTierName): string {
  return `_INBOX.workers-${tier}`;
}
