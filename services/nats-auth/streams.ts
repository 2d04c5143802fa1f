/**
 * The JetStream streams of the event bus, declared from the environment's config: the one home
 * of their retention. Their names and subjects live in `jetstream-names.ts` (re-exported here).
 * NACK's `Stream` resources (constructs/nats/), `createTopology` (topology.ts: local runs, tests)
 * and the services build from these objects; nothing else types a stream name or subject.
 */
import type { StreamConfig } from "@nats-io/jetstream";
import type { EnvironmentConfig } from "../../config/environment.js";
import { assertTenantId } from "../../config/tenancy.js";
import { PLAN_TIER_NAMES, PLAN_TIERS, type PlanTierName, type TierCatalog } from "../../config/tiers.js";
import { DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECTS, EVENT_SUBJECT_TRANSFORM, JOB_DEAD_LETTER_STREAM, JOB_DEAD_LETTER_SUBJECTS, jobLane, STREAM_NAMES, STREAM_SUBJECTS, type SwarmStreamKey } from "./jetstream-names.js";

export {
  DEAD_LETTER_STREAM,
  DEAD_LETTER_SUBJECT_PREFIX,
  DEAD_LETTER_SUBJECTS,
  EVENT_SUBJECT_TRANSFORM,
  eventSubject,
  JOB_DEAD_LETTER_STREAM,
  JOB_DEAD_LETTER_SUBJECT_PREFIX,
  JOB_DEAD_LETTER_SUBJECTS,
  jobDeadLetterSubject,
  jobLane,
  jobSubject,
  PROJECT_ID_PATTERN,
  STREAM_NAMES,
  STREAM_SUBJECTS,
  STORED_EVENT_SUBJECTS,
  storedEventSubject,
  SUBJECT_ROOT,
  type SwarmStreamKey,
} from "./jetstream-names.js";

/**
 * The fields of a stream's configuration this platform sets: every one explicit, so a change of
 * server defaults never changes a stream. A subset of nats.js' `StreamConfig`, accepted by
 * `jsm.streams.add()`; `subject_transform` needs nats-server 2.10 or later (the chart runs 2.14).
 */
export type SwarmStreamConfig = Pick<
  StreamConfig,
  | "name"
  | "description"
  | "subjects"
  | "retention"
  | "storage"
  | "num_replicas"
  | "max_age"
  | "max_bytes"
  | "max_msgs"
  | "max_msgs_per_subject"
  | "max_msg_size"
  | "max_consumers"
  | "discard"
  | "discard_new_per_subject"
  | "subject_transform"
  | "duplicate_window"
  | "deny_delete"
  | "deny_purge"
  | "allow_rollup_hdrs"
>;

const NANOS_PER_SECOND = 1_000_000_000;
const SECONDS_PER_HOUR = 3_600;
const SECONDS_PER_MINUTE = 60;
const BYTES_PER_GIB = 1024 ** 3;
const BYTES_PER_MIB = 1024 ** 2;
/** JetStream's "no limit". */
const UNLIMITED = -1;

/**
 * How many messages one tenant may hold in each shared stream (`max_msgs_per_subject` of
 * `SWARM_EVENTS` and `SWARM_JOBS`, where each tenant has exactly one subject): the smallest
 * `jetstreamStorageMiB / maxPayloadBytes` of any tier (free: 256 MiB / 64 KiB = 4096). So a
 * tenant of any tier holds at most 4096 messages, and at most its own tier's
 * `jetstreamStorageMiB` in bytes, in a stream: the count comes from the catalog, never typed.
 */
export function tenantBacklogMessages(tiers: TierCatalog = PLAN_TIERS): number {
  return Math.min(...PLAN_TIER_NAMES.map((t) => Math.floor((tiers[t].bus.jetstreamStorageMiB * BYTES_PER_MIB) / tiers[t].bus.maxPayloadBytes)));
}

/**
 * The two streams, from `config.nats.streams` and the tier catalog. Both hold every pooled
 * tenant's messages, so both bound each tenant by construction: one subject per tenant
 * (`SWARM_EVENTS` stores `swarm.<tenant>.events` through its subject transform; a `SWARM_JOBS`
 * lane is `swarm.<tenant>.jobs.<tier>`), at most {@link tenantBacklogMessages} messages per subject,
 * and `discard: new` per subject: a tenant at its bound gets its own publishes refused
 * ("maximum messages per subject exceeded"), nobody else's message is evicted or refused.
 * Messages leave when they are consumed (the ingestor's ack, a worker's ack: interest and
 * work-queue retention), so the bound is on the backlog, not on throughput. No message can be
 * deleted through the API (`deny_delete`). A purge is allowed by the stream (`deny_purge: false`)
 * for one legitimate need, offboarding's deletion of a tenant's messages (a subject-filtered
 * purge of `swarm.<tenant>.events` and `swarm.<tenant>.jobs.*`), and by the accounts to the
 * provisioning service's user alone (`provisioningBusPermissions`: the purge API of exactly these
 * two streams); no tenant, worker or ingestor user may send it. A stream created with
 * `deny_purge: true` cannot be updated to allow it ("can not cancel deny purge"): a deployment
 * whose streams still deny it recreates them once (they hold only what is not ingested yet).
 * - `SWARM_EVENTS`: every agent event until the ingestor has stored it (interest retention: the
 *   ingestor's ack frees the tenant's room; ClickHouse holds history), `max_age` as a last resort;
 *   publishes carry `Nats-Msg-Id` and are de-duplicated within the duplicate window.
 * - `SWARM_JOBS`: a work queue (a message is gone once a worker acks it).
 */
export function swarmStreamConfigs(nats: Pick<EnvironmentConfig["nats"], "streams">, tiers: TierCatalog = PLAN_TIERS): Record<SwarmStreamKey, SwarmStreamConfig> {
  const events = nats.streams.events;
  const jobs = nats.streams.jobs;
  const perTenant = tenantBacklogMessages(tiers);
  return {
    events: {
      name: STREAM_NAMES.events,
      description: "Agent events of every pooled tenant until ingested: swarm.<tenant>.<project>.events, stored as swarm.<tenant>.events",
      subjects: [STREAM_SUBJECTS.events],
      subject_transform: { ...EVENT_SUBJECT_TRANSFORM },
      retention: "interest",
      storage: "file",
      num_replicas: events.replicas,
      max_age: events.maxAgeHours * SECONDS_PER_HOUR * NANOS_PER_SECOND,
      max_bytes: events.maxBytesGiB * BYTES_PER_GIB,
      max_msgs: UNLIMITED,
      max_msgs_per_subject: perTenant,
      max_msg_size: UNLIMITED,
      max_consumers: UNLIMITED,
      discard: "new",
      discard_new_per_subject: true,
      duplicate_window: events.duplicateWindowSeconds * NANOS_PER_SECOND,
      deny_delete: true,
      deny_purge: false,
      allow_rollup_hdrs: false,
    },
    jobs: {
      name: STREAM_NAMES.jobs,
      description: "Jobs of every pooled tenant, consumed once, one lane per tier: swarm.<tenant>.jobs.<tier>",
      subjects: [...STREAM_SUBJECTS.jobs],
      retention: "workqueue",
      storage: "file",
      num_replicas: jobs.replicas,
      max_age: jobs.maxAgeHours * SECONDS_PER_HOUR * NANOS_PER_SECOND,
      max_bytes: jobs.maxBytesGiB * BYTES_PER_GIB,
      max_msgs: UNLIMITED,
      max_msgs_per_subject: perTenant,
      max_msg_size: UNLIMITED,
      max_consumers: UNLIMITED,
      discard: "new",
      discard_new_per_subject: true,
      duplicate_window: jobs.duplicateWindowSeconds * NANOS_PER_SECOND,
      deny_delete: true,
      deny_purge: false,
      allow_rollup_hdrs: false,
    },
  };
}

/**
 * A duration in nanoseconds as Go's `time.Duration` text, the form NACK takes: whole hours as
 * `168h`, else seconds (`120s`); with `minutes`, whole minutes as `5m` too (consumer specs; the
 * streams' durations keep the two units they were always written in).
 */
export function goDuration(nanos: number, options: { readonly minutes?: boolean } = {}): string {
  const seconds = nanos / NANOS_PER_SECOND;
  if (!Number.isInteger(seconds) || seconds < 0) {
    throw new RangeError(`duration = ${nanos} ns is not a whole number of seconds. Fix: declare durations in whole seconds.`);
  }
  if (seconds % SECONDS_PER_HOUR === 0 && seconds > 0) return `${seconds / SECONDS_PER_HOUR}h`;
  if (options.minutes && seconds % SECONDS_PER_MINUTE === 0 && seconds > 0) return `${seconds / SECONDS_PER_MINUTE}m`;
  return `${seconds}s`;
}

/** Go's `time.Duration` text of whole seconds (`5m`, `1h30m`, `90s`) in nanoseconds; `field` names it in the error. */
export function parseGoDuration(text: string, field: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (text === "" || !m) {
    throw new RangeError(`${field} = ${JSON.stringify(text)} is not a duration of whole seconds. Fix: write it as Go does, e.g. "30s", "5m" or "1h".`);
  }
  const [hours, minutes, seconds] = [m[1], m[2], m[3]].map((v) => Number(v ?? 0)) as [number, number, number];
  return (hours * SECONDS_PER_HOUR + minutes * SECONDS_PER_MINUTE + seconds) * NANOS_PER_SECOND;
}

/** How long refused events stay in the dead-letter stream for inspection and replay. */
export const DEAD_LETTER_MAX_AGE_DAYS = 14;
/** The dead-letter stream's size cap; it discards its oldest letters beyond it. */
export const DEAD_LETTER_MAX_BYTES = 1024 ** 3;
/** A redelivered poison message is stored once: the ingestor publishes with `Nats-Msg-Id` = its stream sequence. */
const DEAD_LETTER_DUPLICATE_WINDOW_SECONDS = 120;

/**
 * `SWARM_EVENTS_DLQ`: events the ingestor refused, on `ingestor.dlq.<reason>`, their headers
 * carrying the reason, original subject and stream sequence. Kept 14 days (1 GiB at most),
 * replicated like the events stream. Created by NACK (constructs/nats/) in the cluster and by
 * `createTopology` (topology.ts) on a local server; the ingestor only checks that it exists.
 */
export function deadLetterStreamConfig(replicas: number): SwarmStreamConfig {
  return {
    name: DEAD_LETTER_STREAM,
    description: "Events the ingestor refused: ingestor.dlq.<reason>, headers carry the reason, original subject and stream sequence",
    subjects: [DEAD_LETTER_SUBJECTS],
    retention: "limits",
    storage: "file",
    num_replicas: replicas,
    max_age: DEAD_LETTER_MAX_AGE_DAYS * 24 * SECONDS_PER_HOUR * NANOS_PER_SECOND,
    max_bytes: DEAD_LETTER_MAX_BYTES,
    max_msgs: UNLIMITED,
    max_msgs_per_subject: UNLIMITED,
    max_msg_size: UNLIMITED,
    max_consumers: UNLIMITED,
    discard: "old",
    discard_new_per_subject: false,
    duplicate_window: DEAD_LETTER_DUPLICATE_WINDOW_SECONDS * NANOS_PER_SECOND,
    deny_delete: true,
    deny_purge: false,
    allow_rollup_hdrs: false,
  };
}

/**
 * `SWARM_JOBS_DLQ`: jobs that failed on every delivery their worker consumer allows, on
 * `workers.dlq.<tier>`, published by the worker (headers: tenant, original subject, deliveries,
 * last error) before it terminates the job. Kept like the ingestor's dead letters (14 days, 1 GiB,
 * oldest discarded), replicated like the jobs they hold.
 */
export function jobDeadLetterStreamConfig(replicas: number): SwarmStreamConfig {
  return {
    ...deadLetterStreamConfig(replicas),
    name: JOB_DEAD_LETTER_STREAM,
    description: "Jobs every worker delivery failed: workers.dlq.<tier>, headers carry the tenant, original subject, deliveries and last error",
    subjects: [JOB_DEAD_LETTER_SUBJECTS],
  };
}

/** The four streams of a topology, by role (the keys of `topology.ts`'s `TOPOLOGY_STREAMS`). */
export interface SiloStreamConfigs {
  readonly events: SwarmStreamConfig;
  readonly jobs: SwarmStreamConfig;
  readonly deadLetters: SwarmStreamConfig;
  readonly jobDeadLetters: SwarmStreamConfig;
}

/** What {@link siloStreamConfigs} may differ in. */
export interface SiloStreamOptions {
  /** Replicas of every stream (1 on a single server); the sizes are computed for them. @default - as the environment declares its streams */
  readonly replicas?: number;
}

/**
 * The streams of one silo tenant, declared in its own account (claims.ts `siloAccountClaims`):
 * JetStream names are per account, so they keep the platform's names, subjects and subject
 * transform (`SWARM_EVENTS`, `SWARM_JOBS`, `SWARM_EVENTS_DLQ`, `SWARM_JOBS_DLQ`), and the ingestor
 * and the workers run against a silo unchanged.
 *
 * Sized from the tier the silo account's limits come from (`tier`, the enterprise tier), not
 * from the pooled streams' totals: the account's JetStream allowance (`bus.jetstreamStorageMiB`,
 * its JWT's `disk_storage`) is what the server checks every stream's reservation against
 * (`max_bytes` × replicas; the account requires `max_bytes`). The dead-letter streams keep their
 * fixed size; the rest goes to the events and the jobs streams in the proportion the environment
 * gives its pooled streams, each at most the pooled stream's size (the cluster's storage is sized
 * for those). The environment's replicas, ages and duplicate windows apply unchanged.
 *
 * One tenant holds the whole stream, so there is no per-tenant bound (`max_msgs_per_subject`
 * unlimited); a full stream refuses new publishes (`discard: new`) rather than evicting events
 * not yet ingested. Purge and message deletes are denied (a silo's offboarding removes its whole
 * account; nothing purges per tenant in a stream that holds one tenant). The jobs
 * stream captures the tier's lane only (the silo's signing key denies the others).
 */
export function siloStreamConfigs(tenantId: string, nats: Pick<EnvironmentConfig["nats"], "streams">, tier: { readonly name: PlanTierName; readonly bus: { readonly jetstreamStorageMiB: number } }, options: SiloStreamOptions = {}): SiloStreamConfigs {
  assertTenantId(tenantId, "siloTenants[]");
  const pooled = swarmStreamConfigs(nats);
  const replicas = { events: options.replicas ?? pooled.events.num_replicas, jobs: options.replicas ?? pooled.jobs.num_replicas };
  const deadLetters = deadLetterStreamConfig(replicas.events);
  const jobDeadLetters = jobDeadLetterStreamConfig(replicas.jobs);
  const allowance = tier.bus.jetstreamStorageMiB * BYTES_PER_MIB;
  const room = allowance - deadLetters.max_bytes * replicas.events - jobDeadLetters.max_bytes * replicas.jobs;
  const wanted = { events: pooled.events.max_bytes * replicas.events, jobs: pooled.jobs.max_bytes * replicas.jobs };
  if (room < BYTES_PER_MIB * (replicas.events + replicas.jobs)) {
    throw new RangeError(
      `tiers.${tier.name}.bus.jetstreamStorageMiB = ${tier.bus.jetstreamStorageMiB} leaves no room for a silo's events and jobs beside its dead letters (${(deadLetters.max_bytes * replicas.events + jobDeadLetters.max_bytes * replicas.jobs) / BYTES_PER_MIB} MiB with their replicas). Fix: raise the tier's jetstreamStorageMiB.`,
    );
  }
  // Scale both down alike when the pooled sizes do not fit the allowance; whole MiB, rounded down.
  const scale = Math.min(1, room / (wanted.events + wanted.jobs));
  const size = (bytes: number) => Math.max(BYTES_PER_MIB, Math.floor((bytes * scale) / BYTES_PER_MIB) * BYTES_PER_MIB);
  const single = { max_msgs_per_subject: UNLIMITED, discard: "new", discard_new_per_subject: false, deny_purge: true } as const;
  return {
    events: {
      ...pooled.events,
      ...single,
      description: `Agent events of silo tenant ${tenantId} until ingested: swarm.<tenant>.<project>.events, stored as swarm.<tenant>.events`,
      num_replicas: replicas.events,
      max_bytes: size(pooled.events.max_bytes),
    },
    jobs: {
      ...pooled.jobs,
      ...single,
      description: `Jobs of silo tenant ${tenantId}, consumed once: swarm.<tenant>.jobs.${tier.name}`,
      subjects: [jobLane(tier.name)],
      num_replicas: replicas.jobs,
      max_bytes: size(pooled.jobs.max_bytes),
    },
    deadLetters,
    jobDeadLetters,
  };
}

/** The bytes a set of streams reserves against its account's JetStream allowance: `max_bytes` × replicas each (un-tiered limits). */
export function accountReservationBytes(streams: readonly SwarmStreamConfig[]): number {
  return streams.reduce((sum, s) => sum + (s.max_bytes ?? 0) * (s.num_replicas ?? 1), 0);
}
