/**
 * One JetStream message of `SWARM_EVENTS` → one `swarm_events` row, or the reason it is refused.
 *
 * A refused message never reaches ClickHouse: the consumer sends it to the dead-letter stream
 * with {@link Rejected.reason}, {@link Rejected.detail}, the original subject and the stream
 * sequence, and acks it. The checks run cheapest first:
 * 1. size ({@link MAX_EVENT_BYTES}), before any byte is parsed;
 * 2. the subject: `swarm.<tenant>.events` as `SWARM_EVENTS` stores it (its subject transform
 *    drops the project token), or `swarm.<tenant>.<project>.events` as published, with a valid
 *    tenant id (and project token);
 * 3. protobuf decode (truncated, malformed or non-UTF-8 strings are "undecodable");
 * 4. required fields, then id formats and values a ClickHouse insert would refuse (an unknown
 *    enum number, a non-finite float): one bad row would otherwise fail its whole batch;
 * 5. the subject's tenant (and project, when it has one) equal the payload's: NATS accounts bind a tenant's
 *    credentials to its own subjects, so this is what stops a tenant from writing events that
 *    claim another tenant's id into that tenant's history;
 * 6. the tenant's retention ({@link DecodeMeta.retentionDays}): an event older than that before
 *    its stream time is "expired". Stored, it would be deleted by the row TTL at the next merge,
 *    so it is refused (and counted) instead of vanishing silently.
 *
 * The other policies of the tenant's plan (its daily allowance, an offboarded tenant) are the
 * consumer's (./tenants.ts): they depend on what else was stored, not on the message.
 *
 * Runs ~100k times per second per ingestor: patterns are compiled once at module load, the
 * protobuf is parsed once, and the only allocations are the decoded message and the row.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { TENANT_ID_PATTERN } from "../../../config/tenancy.js";
import { AGENT_ROLES, formatDateTime64, type EventType, type SwarmEventRow } from "../../clickhouse-schema/table.js";
import { SUBJECT_ROOT } from "../../nats-auth/streams.js";
import { SwarmEventSchema, type SwarmEvent } from "./gen/enchanted/events/v1/events_pb.js";
import { PROJECT_ID_PATTERN } from "../../nats-auth/streams.js";

/**
 * Largest accepted event, in bytes of serialized protobuf: 64 KiB.
 *
 * A typical event is 300-600 bytes (metadata and a rationale of a few sentences); 64 KiB is
 * ~100 times that and holds a rationale of tens of thousands of characters. Anything larger is
 * content (a file, a diff, a transcript) that belongs in object storage, referenced from the
 * event. The cap also bounds an ingestor batch: a pull of N messages holds at most N × 64 KiB,
 * and a ClickHouse insert block stays predictable. Equal to the smallest tier's NATS
 * `maxPayloadBytes` (config/tiers.ts), so no tier can publish an event that some other tier
 * could not.
 */
export const MAX_EVENT_BYTES = 64 * 1024;

/**
 * Why a message was refused (the dead-letter stream carries it, on `ingestor.dlq.<reason>`).
 * The message itself is wrong:
 * - `oversize`: more than {@link MAX_EVENT_BYTES};
 * - `bad-subject`: not `swarm.<tenant>.<project>.events`, or a token that is not a valid id;
 * - `undecodable`: not a `SwarmEvent` in protobuf binary form;
 * - `missing-field`: a required field is empty or unset (including the payload oneof);
 * - `bad-id`: an id field that does not have its documented format;
 * - `bad-value`: a value the table cannot hold or that cannot be true (timestamp out of range,
 *   unknown agent role, confidence not in [0, 1]);
 * - `tenant-mismatch`: the payload's tenant or project is not the subject's.
 *
 * A valid event its tenant's plan does not let in ({@link POLICY_REJECT_REASONS}):
 * - `expired`: older than the tier's `events.retentionDays` before its stream time;
 * - `quota`: beyond the tier's `events.perDay` for the UTC day of its stream time;
 * - `offboarded`: its tenant is offboarded (`tenant_plans`), so a straggler published after the
 *   tenant's history was deleted cannot bring rows back.
 */
export const REJECT_REASONS = ["oversize", "bad-subject", "undecodable", "missing-field", "bad-id", "bad-value", "tenant-mismatch", "expired", "quota", "offboarded"] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** The reasons that come from the tenant's plan, not from the message: counted by tier (and, but for `offboarded`, in `tenant_usage_daily`). */
export const POLICY_REJECT_REASONS = ["expired", "quota", "offboarded"] as const satisfies readonly RejectReason[];
export type PolicyRejectReason = (typeof POLICY_REJECT_REASONS)[number];

export interface Accepted {
  readonly ok: true;
  readonly row: SwarmEventRow;
}

export interface Rejected {
  readonly ok: false;
  readonly reason: RejectReason;
  /** What exactly failed, naming the field and quoting (at most 64 characters of) the value. */
  readonly detail: string;
}

export type DecodeResult = Accepted | Rejected;

export interface DecodeMeta {
  /** When JetStream stored the message (its stream timestamp), ms since the epoch: `ingested_at`. */
  readonly streamTimestampMs: number;
  /**
   * The tenant's tier `events.retentionDays` (1-3650): the row's `retention_days` (the table's
   * TTL keeps it that long), and an event older than this many days before its stream time is
   * refused as `expired`. Measured from the stream time, not the clock, so every delivery of a
   * message is decided alike (a redelivered batch is the same insert block). 0: no tier known
   * (a tool replaying rows): no expiry check, and the row takes the table's default TTL.
   */
  readonly retentionDays: number;
}

/** Milliseconds in a (UTC) day. */
export const MS_PER_DAY = 86_400_000;

/** `event_id`: a canonical lower-case UUID, 36 characters. */
export const EVENT_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `agent_id` and `user_id`: 1-128 ASCII letters, digits and `_ - . : @`, starting with a letter
 * or digit. Covers slugs (`architect-1`), UUIDs (Keycloak subjects) and e-mail-like ids, and
 * never contains whitespace, quotes, control characters or NATS wildcards.
 */
export const ACTOR_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$/;

/** `project_id`: one NATS subject token; the one rule lives with the subjects in nats-auth/streams.ts. */
export { PROJECT_ID_PATTERN };

/** OpenTelemetry ids (W3C trace context), lower-case hex; both may be empty (not traced). */
export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;
export const SPAN_ID_PATTERN = /^[0-9a-f]{16}$/;

/** Earliest accepted event time: 2020-01-01T00:00:00Z (before the platform existed, so wrong). */
export const EARLIEST_EVENT_SECONDS = 1_577_836_800n;
/**
 * How far an event's time may lie after its stream timestamp: agents' clocks drift, but an
 * event cannot have been stored long before it happened. 5 minutes.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;

const SUBJECT_PREFIX = `${SUBJECT_ROOT}.`;
const SUBJECT_SUFFIX = ".events";
const NANOS_PER_MICRO = 1_000;
const NANOS_PER_MS = 1_000_000;
const MICROS_PER_SECOND = 1_000_000n;
const MICROS_PER_MS = 1_000n;
const MAX_NANOS = 999_999_999;
/** `DateTime64(3)` is the first 23 characters of a `DateTime64(6)` literal. */
const DATETIME64_3_LENGTH = 23;
const QUOTE_MAX_CHARS = 64;
/** Unknown fields are not kept in the decoded message: the raw bytes are stored as they came. */
const READ_OPTIONS = { readUnknownFields: false } as const;
const NO_TEXT = "";

/**
 * The tenant of a message's subject (`swarm.<tenant>.events` as `SWARM_EVENTS` stores it, or
 * `swarm.<tenant>.<project>.events`), or undefined when the subject has neither form or the
 * token is not a tenant id ({@link decodeEvent} then refuses the message as `bad-subject`). An
 * accepted event's `tenant_id` is always this tenant (step 5), so the consumer applies the
 * tenant's plan before decoding.
 */
export function tenantOfSubject(subject: string): string | undefined {
  const suffixAt = subject.length - SUBJECT_SUFFIX.length;
  if (!subject.startsWith(SUBJECT_PREFIX) || !subject.endsWith(SUBJECT_SUFFIX) || suffixAt <= SUBJECT_PREFIX.length) return undefined;
  const dot = subject.indexOf(".", SUBJECT_PREFIX.length);
  const tenant = subject.slice(SUBJECT_PREFIX.length, dot < suffixAt ? dot : suffixAt);
  return TENANT_ID_PATTERN.test(tenant) ? tenant : undefined;
}

/**
 * The earliest event time (ms since the epoch) a tenant with `retentionDays` keeps for a message
 * stored at `streamTimestampMs`: an event before it is `expired`. Both decode paths compare the
 * event's time, in whole milliseconds, against this one number.
 */
export function retentionCutoffMs(streamTimestampMs: number, retentionDays: number): number {
  return streamTimestampMs - retentionDays * MS_PER_DAY;
}

function reject(reason: RejectReason, detail: string): Rejected {
  return { ok: false, reason, detail };
}

/** A value for a detail message: JSON-quoted, cut to {@link QUOTE_MAX_CHARS} characters. */
function quote(value: string): string {
  return JSON.stringify(value.length > QUOTE_MAX_CHARS ? `${value.slice(0, QUOTE_MAX_CHARS)}…` : value);
}

function eventTypeOf(payload: SwarmEvent["payload"]): EventType | undefined {
  switch (payload.case) {
    case "decision":
      return "decision";
    case "stateChange":
      return "state_change";
    case "systemSignal":
      return "system_signal";
    default:
      return undefined;
  }
}

/**
 * Validates one message of the events stream and maps it to its `swarm_events` row.
 * Never throws: every failure is a {@link Rejected} with a reason and a detail.
 */
export function decodeEvent(subject: string, data: Uint8Array, meta: DecodeMeta): DecodeResult {
  // 1. Size, before anything is parsed.
  if (data.byteLength > MAX_EVENT_BYTES) {
    return reject("oversize", `event is ${data.byteLength} bytes, more than MAX_EVENT_BYTES = ${MAX_EVENT_BYTES}`);
  }

  // 2. Subject: swarm.<tenant>.events (stored) or swarm.<tenant>.<project>.events, each token valid (the project pattern has no ".").
  const suffixAt = subject.length - SUBJECT_SUFFIX.length;
  if (!subject.startsWith(SUBJECT_PREFIX) || !subject.endsWith(SUBJECT_SUFFIX) || suffixAt <= SUBJECT_PREFIX.length) {
    return reject("bad-subject", `subject ${quote(subject)} is not swarm.<tenant>.events or swarm.<tenant>.<project>.events`);
  }
  const dot = subject.indexOf(".", SUBJECT_PREFIX.length);
  const tenantEnd = dot < suffixAt ? dot : suffixAt;
  const subjectTenant = subject.slice(SUBJECT_PREFIX.length, tenantEnd);
  const subjectProject = tenantEnd < suffixAt ? subject.slice(tenantEnd + 1, suffixAt) : undefined;
  if (!TENANT_ID_PATTERN.test(subjectTenant)) {
    return reject("bad-subject", `subject ${quote(subject)}: tenant token ${quote(subjectTenant)} is not a valid tenant id`);
  }
  if (subjectProject !== undefined && !PROJECT_ID_PATTERN.test(subjectProject)) {
    return reject("bad-subject", `subject ${quote(subject)}: project token ${quote(subjectProject)} is not a valid project id`);
  }

  // 3. Decode, once.
  let event: SwarmEvent;
  try {
    event = fromBinary(SwarmEventSchema, data, READ_OPTIONS);
  } catch (e) {
    return reject("undecodable", `not a SwarmEvent: ${e instanceof Error ? e.message : String(e)}`);
  }

  // 4. Required fields, id formats and values.
  const { eventId, timestamp, tenantId, projectId, agentId, userId, payload } = event;
  if (eventId === "") return reject("missing-field", "event_id is empty");
  if (timestamp === undefined) return reject("missing-field", "timestamp is not set");
  if (tenantId === "") return reject("missing-field", "tenant_id is empty");
  if (projectId === "") return reject("missing-field", "project_id is empty");
  if (agentId === "") return reject("missing-field", "agent_id is empty");
  if (userId === "") return reject("missing-field", "user_id is empty");
  const eventType = eventTypeOf(payload);
  if (eventType === undefined) return reject("missing-field", "payload is not set (one of decision, state_change, system_signal)");

  if (!EVENT_ID_PATTERN.test(eventId)) return reject("bad-id", `event_id ${quote(eventId)} is not a canonical lower-case UUID`);
  if (!TENANT_ID_PATTERN.test(tenantId)) return reject("bad-id", `tenant_id ${quote(tenantId)} is not a valid tenant id`);
  if (!PROJECT_ID_PATTERN.test(projectId)) return reject("bad-id", `project_id ${quote(projectId)} is not a valid project id`);
  if (!ACTOR_ID_PATTERN.test(agentId)) return reject("bad-id", `agent_id ${quote(agentId)} does not match ${ACTOR_ID_PATTERN.source}`);
  if (!ACTOR_ID_PATTERN.test(userId)) return reject("bad-id", `user_id ${quote(userId)} does not match ${ACTOR_ID_PATTERN.source}`);
  if (event.traceId !== "" && !TRACE_ID_PATTERN.test(event.traceId)) return reject("bad-id", `trace_id ${quote(event.traceId)} is not 32 lower-case hex characters`);
  if (event.spanId !== "" && !SPAN_ID_PATTERN.test(event.spanId)) return reject("bad-id", `span_id ${quote(event.spanId)} is not 16 lower-case hex characters`);

  const { seconds, nanos } = timestamp;
  const latestSeconds = BigInt(Math.floor((meta.streamTimestampMs + MAX_CLOCK_SKEW_MS) / 1000));
  if (seconds < EARLIEST_EVENT_SECONDS || seconds > latestSeconds || nanos < 0 || nanos > MAX_NANOS) {
    return reject("bad-value", `timestamp ${seconds}s ${nanos}ns is before 2020, more than ${MAX_CLOCK_SKEW_MS} ms after the stream timestamp, or malformed`);
  }
  const agentRole = AGENT_ROLES[event.agentRole];
  if (agentRole === undefined) return reject("bad-value", `agent_role ${event.agentRole} is not an AgentRole`);

  let confidenceScore = 0;
  let rationale = NO_TEXT;
  let targetResource = NO_TEXT;
  let stateHash = NO_TEXT;
  if (payload.case === "decision") {
    confidenceScore = payload.value.confidenceScore;
    // Also refuses NaN, which JSON cannot carry.
    if (!(confidenceScore >= 0 && confidenceScore <= 1)) return reject("bad-value", `decision.confidence_score ${confidenceScore} is not in [0, 1]`);
    // Ciphertext is not text a reader could use: it stays in raw_proto only.
    if (!event.isEncrypted) rationale = payload.value.rationale;
  } else if (payload.case === "stateChange") {
    targetResource = payload.value.targetResource;
    stateHash = payload.value.stateHash;
  }

  // 5. The subject decides whose history this is.
  if (tenantId !== subjectTenant) {
    return reject("tenant-mismatch", `tenant_id ${quote(tenantId)} was published on subject ${quote(subject)} of tenant ${quote(subjectTenant)}`);
  }
  if (subjectProject !== undefined && projectId !== subjectProject) {
    return reject("tenant-mismatch", `project_id ${quote(projectId)} was published on subject ${quote(subject)} of project ${quote(subjectProject)}`);
  }

  // 6. The tenant's retention: a row the TTL would delete at once is refused, not stored.
  const eventMs = Number(seconds) * 1000 + Math.floor(nanos / NANOS_PER_MS);
  const cutoffMs = retentionCutoffMs(meta.streamTimestampMs, meta.retentionDays);
  if (meta.retentionDays > 0 && eventMs < cutoffMs) {
    return reject(
      "expired",
      `timestamp ${formatDateTime64(BigInt(eventMs) * MICROS_PER_MS).slice(0, DATETIME64_3_LENGTH)} is more than retentionDays = ${meta.retentionDays} days before its stream time ${formatDateTime64(BigInt(Math.trunc(meta.streamTimestampMs)) * MICROS_PER_MS).slice(0, DATETIME64_3_LENGTH)}: the row would be deleted by the table's TTL`,
    );
  }

  const micros = seconds * MICROS_PER_SECOND + BigInt(Math.floor(nanos / NANOS_PER_MICRO));
  const row: SwarmEventRow = {
    event_id: eventId,
    timestamp: formatDateTime64(micros),
    trace_id: event.traceId,
    span_id: event.spanId,
    agent_role: agentRole,
    agent_id: agentId,
    tenant_id: tenantId,
    user_id: userId,
    project_id: projectId,
    is_encrypted: event.isEncrypted,
    event_type: eventType,
    confidence_score: confidenceScore,
    rationale,
    target_resource: targetResource,
    state_hash: stateHash,
    raw_proto_base64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
    ingested_at: formatDateTime64(BigInt(Math.trunc(meta.streamTimestampMs)) * MICROS_PER_MS).slice(0, DATETIME64_3_LENGTH),
    retention_days: meta.retentionDays,
  };
  return { ok: true, row };
}
