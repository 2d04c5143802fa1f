/**
 * Job handlers: what a worker runs for a job's `type`. A handler gets the job, an SDK client of
 * the job's tenant (its own scoped credentials: it can publish only into that tenant's subjects)
 * and the tenant's history (every query bound to that tenant), and emits the agent's events
 * through the client. It resolves when done (the runtime then flushes the client and acks) and
 * throws to fail the attempt: a {@link JobInputError} is permanent (dead-lettered at once), any
 * other error is retried with backoff until the consumer's last delivery.
 *
 * Built in: `changes.digest` ({@link changesDigest}). Deployments add their own through
 * `startWorker(config, { handlers })`.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import type { PlanTierName } from "../../../config/tiers.js";
import type { AgentClient } from "../../../sdk/client.js";
import { ACTOR_ID_PATTERN } from "../../ingestor/src/event.js";
import { recentChangesQuery, type RecentChangesParams, type RecentChangesRow } from "../../clickhouse-schema/queries.js";
import type { JobMessage } from "../contract.js";

/** The history of one tenant: the queries a handler may run, the tenant already bound. */
export interface TenantHistory {
  recentChanges(p: Omit<RecentChangesParams, "tenantId">): Promise<RecentChangesRow[]>;
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

/** The handlers every worker has. */
export const BUILTIN_HANDLERS: Readonly<Record<string, JobHandler>> = { "changes.digest": changesDigest };
