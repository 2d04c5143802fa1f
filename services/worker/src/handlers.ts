/**
 * Job handlers: what a worker runs for a job's `type`. A handler gets the job, an SDK client of
 * the job's tenant (its own scoped credentials: it can publish only into that tenant's subjects)
 * and the tenant's history (every query bound to that tenant), and emits the agent's events
 * through the client. It resolves when done (the runtime then flushes the client and acks) and
 * throws to fail the attempt: a {@link JobInputError} is permanent (dead-lettered at once), any
 * other error is retried with backoff until the consumer's last delivery.
 *
 * Built in: `changes.digest` ({@link changesDigest}) and `state.revert` ({@link stateRevert}).
 * Deployments add their own through `startWorker(config, { handlers })`; that map replaces the
 * built-ins, so a deployment spreads them and overrides by type:
 * `{ ...BUILTIN_HANDLERS, "state.revert": stateRevertHandler(applyToMyResources) }`.
 */
import { createHash } from "node:crypto";
import type { ClickHouseClient } from "@clickhouse/client";
import type { PlanTierName } from "../../../config/tiers.js";
import type { AgentClient } from "../../../sdk/client.js";
import type { StateChangeInput } from "../../../sdk/events.js";
import { ACTOR_ID_PATTERN, MAX_CLOCK_SKEW_MS } from "../../ingestor/src/event.js";
import { recentChangesQuery, revertCheckQuery, type RecentChangesParams, type RecentChangesRow, type RevertCheckParams, type RevertCheckRow } from "../../clickhouse-schema/queries.js";
import { EVENT_ID_PATTERN, RESOURCE_MAX_LENGTH, STATE_HASH_PATTERN } from "../../clickhouse-schema/tenant-queries.js";
import type { JobMessage } from "../contract.js";

/** The history of one tenant: the queries a handler may run, the tenant already bound. */
export interface TenantHistory {
  recentChanges(p: Omit<RecentChangesParams, "tenantId">): Promise<RecentChangesRow[]>;
  /** One resource's standing for a revert (always one row). */
  revertCheck(p: Omit<RevertCheckParams, "tenantId">): Promise<RevertCheckRow>;
}

/** A history reader bound to `tenantId` over a ClickHouse client. */
export function tenantHistory(client: ClickHouseClient, tenantId: string): TenantHistory {
  return {
    async recentChanges(p) {
      const q = recentChangesQuery({ ...p, tenantId });
      // Its settings bind the tenant for the engine's row policy too (the workers' user reads nothing unbound).
      const rs = await client.query({ ...q, format: "JSONEachRow" });
      return rs.json<RecentChangesRow>();
    },
    async revertCheck(p) {
      const rs = await client.query({ ...revertCheckQuery({ ...p, tenantId }), format: "JSONEachRow" });
      const [row] = await rs.json<RevertCheckRow>();
      if (!row) throw new Error("the revert check returned no row (an aggregate without GROUP BY always returns one)");
      return row;
    },
  };
}

export interface JobContext {
  readonly job: JobMessage;
  readonly tier: PlanTierName;
  /** Delivery number of this attempt (1 = first). */
  readonly attempt: number;
  /** The job's tenant's SDK client: events go through it, into that tenant's subjects only. */
  readonly agent: AgentClient;
  /** The tenant's history; undefined when this worker has no ClickHouse. */
  readonly history: TenantHistory | undefined;
  /** Aborted when the handler's time is up or the worker stops. */
  readonly signal: AbortSignal;
}

export type JobHandler = (ctx: JobContext) => Promise<void>;

/** A job whose input no attempt can fix: dead-lettered at once, not retried. */
export class JobInputError extends Error {
  override readonly name = "JobInputError";
  constructor(field: string, value: unknown, problem: string, fix: string) {
    super(`input.${field} = ${JSON.stringify(value)} ${problem}. Fix: ${fix}.`);
  }
}

/** What `changes.digest` reads from `input`. */
export interface ChangesDigestInput {
  /** Resources starting with this path. @default "" (all) */
  readonly path: string;
  /** The window, in minutes, up to now. @default 60 */
  readonly windowMinutes: number;
  /** The agent the decision is emitted as. @default "digest-worker" */
  readonly agentId: string;
}

const MAX_WINDOW_MINUTES = 7 * 24 * 60;
/** Resources a digest names; more are counted, not listed. */
const DIGEST_TOP = 10;

export function changesDigestInput(input: Readonly<Record<string, unknown>>): ChangesDigestInput {
  const known = new Set(["path", "windowMinutes", "agentId"]);
  for (const key of Object.keys(input)) if (!known.has(key)) throw new JobInputError(key, input[key], "is not an input of changes.digest", `send only ${[...known].join(", ")}`);
  const path = input["path"] ?? "";
  if (typeof path !== "string" || path.length > 1_024) throw new JobInputError("path", path, "is not a path of at most 1024 characters", 'send a path prefix such as "src/" (or leave it out for every resource)');
  const windowMinutes = input["windowMinutes"] ?? 60;
  if (typeof windowMinutes !== "number" || !Number.isInteger(windowMinutes) || windowMinutes < 1 || windowMinutes > MAX_WINDOW_MINUTES) {
    throw new JobInputError("windowMinutes", windowMinutes, `is not a whole number of minutes from 1 to ${MAX_WINDOW_MINUTES}`, "send e.g. 60");
  }
  const agentId = input["agentId"] ?? "digest-worker";
  if (typeof agentId !== "string" || !ACTOR_ID_PATTERN.test(agentId)) throw new JobInputError("agentId", agentId, "is not an agent id", "use 1-128 letters, digits and _ . : @ -");
  return { path, windowMinutes, agentId };
}

/** The decision a digest of `rows` makes (pure, for tests). */
export function digestDecision(rows: readonly RecentChangesRow[], input: ChangesDigestInput): { action: string; rationale: string; confidence: number; alternatives: string[] } {
  const scope = input.path === "" ? "the project" : input.path;
  if (rows.length === 0) {
    return { action: `no changes under ${scope}`, rationale: `No state changes under ${scope} in the last ${input.windowMinutes} min.`, confidence: 1, alternatives: [] };
  }
  const total = rows.reduce((n, r) => n + r.changes, 0);
  const [top] = rows as [RecentChangesRow, ...RecentChangesRow[]];
  const lines = rows
    .slice(0, DIGEST_TOP)
    .map((r) => `- ${r.target_resource}: ${r.changes} change(s) by ${r.agents} agent(s), last by ${r.last_agent} at ${r.last_changed}${r.last_state_hash ? ` (state ${r.last_state_hash.slice(0, 12)})` : " (deleted)"}`);
  const more = rows.length > DIGEST_TOP ? `\n… and ${rows.length - DIGEST_TOP} more resource(s)` : "";
  return {
    action: `review ${top.target_resource}`,
    rationale: `${total} state change(s) to ${rows.length} resource(s) under ${scope} in the last ${input.windowMinutes} min; most changed first:\n${lines.join("\n")}${more}`,
    // How much of the churn the resource to review holds.
    confidence: Math.round((top.changes / total) * 1_000) / 1_000,
    alternatives: rows.slice(1, 4).map((r) => `review ${r.target_resource}`),
  };
}

/**
 * `changes.digest`: summarises the recent state changes of the job's project (under `input.path`,
 * over `input.windowMinutes`) from the tenant's own history into one decision event: which
 * resource to review, with the per-resource counts, agents and last states as its rationale.
 */
export const changesDigest: JobHandler = async ({ job, agent, history, signal }) => {
  const input = changesDigestInput(job.input);
  if (!history) throw new Error("this worker has no ClickHouse (WORKER_CLICKHOUSE_URL): changes.digest reads the tenant's history");
  const rows = await history.recentChanges({ projectId: job.projectId, prefix: input.path, until: new Date(), windowSeconds: input.windowMinutes * 60, limit: 1_000 });
  signal.throwIfAborted();
  const d = digestDecision(rows, input);
  await agent.decision({ agentId: input.agentId, agentRole: "reviewer", projectId: job.projectId, userId: job.submittedBy, confidence: d.confidence, action: d.action, rationale: d.rationale, alternatives: d.alternatives });
};

// ---- state.revert ------------------------------------------------------------------------------

/** The job type of a revert: what the events API's replay route submits. */
export const STATE_REVERT_JOB_TYPE = "state.revert";

/** What `state.revert` reads from `input`. */
export interface StateRevertInput {
  /** The resource (`target_resource`) to take back. */
  readonly resource: string;
  /** The state it goes back to (lower-case hex SHA-256). */
  readonly stateHash: string;
  /** The state change that left the resource in that state. */
  readonly eventId: string;
  /** When that change happened, as given (RFC 3339, or ClickHouse's UTC literal). */
  readonly timestamp: string;
  /** {@link timestamp} in µs since the epoch, and how many fraction digits it was given with (at most 6 count). */
  readonly at: Moment;
  /** The agent the revert is recorded as. @default "state-revert" */
  readonly agentId: string;
}

/** A moment in µs since the epoch, with the precision it was written in. */
export interface Moment {
  readonly micros: bigint;
  /** Fraction digits given (0-6): the moment is exact to 10^-digits s. */
  readonly digits: number;
}

const MOMENT_PATTERN = /^(\d{4})-(\d{2})-(\d{2})([Tt ])(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}:\d{2})?$/;

/**
 * A moment written as RFC 3339 (`2026-12-04T10:00:00.123456Z`, any offset) or as ClickHouse's
 * DateTime64 literal in UTC (`2026-12-04 10:00:00.123456`); undefined when it is neither or names
 * no real time (a 31st of February, 24:00). Fractions beyond microseconds are cut.
 */
export function parseMoment(text: string): Moment | undefined {
  const m = MOMENT_PATTERN.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, sep, h, mi, sec, frac = "", zone] = m as unknown as [string, string, string, string, string, string, string, string, string | undefined, string | undefined];
  // RFC 3339 names its offset; only the space-separated literal is implicitly UTC.
  if (zone === undefined && sep !== " ") return undefined;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec));
  const t = new Date(ms);
  if (t.getUTCFullYear() !== Number(y) || t.getUTCMonth() !== Number(mo) - 1 || t.getUTCDate() !== Number(d) || t.getUTCHours() !== Number(h) || t.getUTCMinutes() !== Number(mi) || t.getUTCSeconds() !== Number(sec)) return undefined;
  let offsetMinutes = 0;
  if (zone !== undefined && zone.toUpperCase() !== "Z") {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = frac.slice(0, 6);
  return { micros: BigInt(ms - offsetMinutes * 60_000) * 1000n + BigInt(fraction.padEnd(6, "0")), digits: fraction.length };
}

export function stateRevertInput(input: Readonly<Record<string, unknown>>): StateRevertInput {
  const known = new Set(["resource", "stateHash", "eventId", "timestamp", "agentId"]);
  for (const key of Object.keys(input)) if (!known.has(key)) throw new JobInputError(key, input[key], `is not an input of ${STATE_REVERT_JOB_TYPE}`, `send only ${[...known].join(", ")}`);
  const resource = input["resource"];
  if (typeof resource !== "string" || resource.length === 0 || resource.length > RESOURCE_MAX_LENGTH) {
    throw new JobInputError("resource", resource, `is not a resource of 1-${RESOURCE_MAX_LENGTH} characters`, "send the target_resource of the resource's state changes");
  }
  const stateHash = input["stateHash"];
  if (typeof stateHash !== "string" || !STATE_HASH_PATTERN.test(stateHash)) throw new JobInputError("stateHash", stateHash, "is not a state hash", "send the 64 lower-case hex digits (SHA-256) of a state_hash the resource had");
  const eventId = input["eventId"];
  if (typeof eventId !== "string" || !EVENT_ID_PATTERN.test(eventId)) throw new JobInputError("eventId", eventId, "is not a canonical lower-case UUID", "send the event_id of the state change that left the resource in stateHash");
  const timestamp = input["timestamp"];
  const at = typeof timestamp === "string" ? parseMoment(timestamp) : undefined;
  if (typeof timestamp !== "string" || !at) throw new JobInputError("timestamp", timestamp, "is not a moment", "send the state change's time in RFC 3339, e.g. 2026-12-04T10:00:00.123456Z");
  const agentId = input["agentId"] ?? "state-revert";
  if (typeof agentId !== "string" || !ACTOR_ID_PATTERN.test(agentId)) throw new JobInputError("agentId", agentId, "is not an agent id", "use 1-128 letters, digits and _ . : @ -");
  return { resource, stateHash, eventId, timestamp, at, agentId };
}

/**
 * The event id of the revert a job records: a UUID (version 5 layout) of a SHA-256 over the job's
 * tenant and id. Every attempt of the job emits the same id, so a retried attempt is stored once
 * (JetStream's de-duplication by `Nats-Msg-Id`, and the handler finds it recorded).
 */
export function revertEventIdOf(job: Pick<JobMessage, "tenantId" | "jobId">): string {
  const b = Buffer.from(createHash("sha256").update(JSON.stringify([STATE_REVERT_JOB_TYPE, job.tenantId, job.jobId])).digest().subarray(0, 16));
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A revert whose target state the tenant's history confirmed. */
export interface VerifiedRevert {
  readonly resource: string;
  readonly projectId: string;
  readonly stateHash: string;
  readonly eventId: string;
  /** When the change that left the resource in that state happened, as stored ('YYYY-MM-DD hh:mm:ss.ffffff' UTC). */
  readonly eventTimestamp: string;
  /** The resource's state now ('' when its last change deleted it). */
  readonly currentStateHash: string;
  /** When the resource last changed, as stored. */
  readonly lastChanged: string;
  /** The id of the event that records the revert ({@link revertEventIdOf}). */
  readonly revertEventId: string;
  /** An earlier attempt of this job recorded it already. */
  readonly recorded: boolean;
}

/**
 * Checks the job against the history's {@link RevertCheckRow} (pure, for tests): the resource was
 * in `stateHash` in the job's project, `eventId` is the state change that left it there, at
 * `timestamp` (to the precision given). Each failure is a {@link JobInputError} naming the field:
 * no attempt can make an unknown state known.
 */
export function verifyRevert(row: RevertCheckRow, input: StateRevertInput, job: Pick<JobMessage, "projectId" | "tenantId" | "jobId">): VerifiedRevert {
  const where = `${JSON.stringify(input.resource)} in project ${job.projectId}`;
  if (row.times_in_state === 0) {
    throw new JobInputError("stateHash", input.stateHash, `is not a state of ${where} (${row.changes} state change(s) of it in the tenant's history)`, "send a state_hash one of the resource's state changes left it in");
  }
  if (Number(row.event_found) !== 1) throw new JobInputError("eventId", input.eventId, `is not a state change of ${where}`, "send the event_id of the state change that left the resource in stateHash");
  if (row.event_state_hash !== input.stateHash) {
    throw new JobInputError("eventId", input.eventId, `left ${where} ${row.event_state_hash === "" ? "deleted" : `in state ${row.event_state_hash}`}, not in ${input.stateHash}`, "send the event_id of the state change that left the resource in stateHash");
  }
  const stored = parseMoment(row.event_timestamp);
  if (!stored) throw new Error(`the history returned an unreadable timestamp ${JSON.stringify(row.event_timestamp)}`);
  const unit = 10n ** BigInt(6 - input.at.digits);
  if (stored.micros - (stored.micros % unit) !== input.at.micros) {
    throw new JobInputError("timestamp", input.timestamp, `is not when state change ${input.eventId} happened (${row.event_timestamp} UTC)`, "send the state change's own timestamp");
  }
  return {
    resource: input.resource,
    projectId: job.projectId,
    stateHash: input.stateHash,
    eventId: input.eventId,
    eventTimestamp: row.event_timestamp,
    currentStateHash: row.current_state_hash,
    lastChanged: row.last_changed,
    revertEventId: revertEventIdOf(job),
    recorded: Number(row.revert_recorded) === 1,
  };
}

/**
 * The state change that records a revert (pure, for tests): the resource back in the reverted-to
 * state, `created` when it was deleted, after its current state; the job's id and the event it
 * goes back to in the summary. Its time is `nowMs`, or just after the resource's last change when
 * an agent's clock put that after now (within what the ingestor accepts), so the history's latest
 * state of the resource is the reverted-to one.
 */
export function revertStateChange(revert: VerifiedRevert, job: JobMessage, agentId: string, nowMs: number): StateChangeInput {
  const last = parseMoment(revert.lastChanged);
  const justAfterLast = last ? Number(last.micros / 1000n) + 1 : nowMs;
  const at = justAfterLast > nowMs && justAfterLast <= nowMs + MAX_CLOCK_SKEW_MS / 2 ? justAfterLast : nowMs;
  const was = revert.currentStateHash === "" ? "deleted" : revert.currentStateHash === revert.stateHash ? "already in that state" : `in state ${revert.currentStateHash}`;
  return {
    agentId,
    agentRole: "operator",
    projectId: job.projectId,
    userId: job.submittedBy,
    eventId: revert.revertEventId,
    timestamp: new Date(at),
    resource: revert.resource,
    change: revert.currentStateHash === "" ? "created" : "modified",
    stateHash: revert.stateHash,
    previousStateHash: revert.currentStateHash,
    summary: `Reverted ${revert.resource} to state ${revert.stateHash}, the state event ${revert.eventId} (${revert.eventTimestamp} UTC) left it in; it was ${was}. Job ${job.jobId} (${STATE_REVERT_JOB_TYPE}), submitted by ${job.submittedBy} at ${job.submittedAt}.`,
  };
}

/** What a deployment does to the real resource before the revert is recorded. */
export type RevertApplier = (revert: VerifiedRevert, ctx: JobContext) => Promise<void>;

/**
 * `state.revert`: takes a resource back to a state it was in (the events API's replay route files
 * it through the jobs API, in the tenant's lane). It checks the input (a {@link JobInputError}
 * naming the field), verifies in the tenant's own history that the job's project's resource was in
 * `stateHash`, left there by `eventId` at `timestamp` (an unknown state is a JobInputError:
 * permanent, dead-lettered), then runs `apply` when given, then emits through the job's SDK client
 * the state change that records the revert ({@link revertStateChange}), so the history shows the
 * resource back in that state. A retried attempt whose revert is recorded already does nothing.
 *
 * The built-in ({@link stateRevert}) has no `apply`: it records the revert in the history only.
 * A deployment that manages the real resources registers its own, which applies the revert first:
 * `startWorker(config, { handlers: { ...BUILTIN_HANDLERS, "state.revert": stateRevertHandler(apply) } })`
 * (handlers override the built-ins by type). `apply` may run again for the same job (an attempt
 * that failed after it), so it must be idempotent: set the resource to the state, do not step it.
 */
export function stateRevertHandler(apply?: RevertApplier): JobHandler {
  return async (ctx) => {
    const { job, agent, history, signal } = ctx;
    const input = stateRevertInput(job.input);
    if (!history) throw new Error(`this worker has no ClickHouse (WORKER_CLICKHOUSE_URL): ${STATE_REVERT_JOB_TYPE} verifies the state in the tenant's history`);
    const row = await history.revertCheck({ projectId: job.projectId, resource: input.resource, stateHash: input.stateHash, eventId: input.eventId, revertEventId: revertEventIdOf(job) });
    signal.throwIfAborted();
    const revert = verifyRevert(row, input, job);
    if (revert.recorded) return;
    if (apply) {
      await apply(revert, ctx);
      signal.throwIfAborted();
    }
    await agent.stateChange(revertStateChange(revert, job, input.agentId, Date.now()));
  };
}

/** The built-in `state.revert`: verifies and records the revert in the tenant's history. */
export const stateRevert: JobHandler = stateRevertHandler();

/** The handlers every worker has. */
export const BUILTIN_HANDLERS: Readonly<Record<string, JobHandler>> = { "changes.digest": changesDigest, [STATE_REVERT_JOB_TYPE]: stateRevert };
