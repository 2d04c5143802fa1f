/**
 * Replays: a resource taken back to a state it was in. The events API finds the state in the
 * resource's history (its own read path), then submits a `state.revert` job through the
 * provisioning service's jobs API (`POST /v1/projects/{projectId}/jobs`) with the CALLER's
 * bearer token, so the provisioning service checks the caller's current membership and role in
 * its store, files the job in the tenant's own lane (`swarm.<tenant>.jobs.<tier>`) and records
 * the caller as its submitter. This service holds no bus credentials and no other authority.
 *
 * The job id is derived from the request (tenant, project, resource and the state change found),
 * so a retried request, or two requests that resolve to the same state, file the job once
 * (JetStream's de-duplication by `Nats-Msg-Id`, the provisioning service's `duplicate`).
 */
import { createHash } from "node:crypto";
import { REPLAY_JOB_TYPE } from "../contract.js";
import { ApiError } from "./errors.js";

/** The input of a `state.revert` job: the resource and the state it goes back to. */
export interface RevertInput {
  readonly resource: string;
  readonly stateHash: string;
  /** The state change that left the resource in that state. */
  readonly eventId: string;
  /** When that change happened (RFC 3339, UTC). */
  readonly timestamp: string;
}

/** The deterministic job id of a replay: a UUID (version 5 layout) of a SHA-256 over its identity. */
export function replayJobId(p: { readonly tenantId: string; readonly projectId: string; readonly resource: string; readonly eventId: string }): string {
  const digest = createHash("sha256").update(JSON.stringify([REPLAY_JOB_TYPE, p.tenantId, p.projectId, p.resource, p.eventId])).digest();
  const b = Buffer.from(digest.subarray(0, 16));
  b[6] = ((b[6] as number) & 0x0f) | 0x50;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** What the jobs API answered for a filed job. */
export interface FiledJob {
  readonly job: Readonly<Record<string, unknown>>;
  /** The subject of the tenant's lane the job was filed in. */
  readonly lane: string;
  readonly tier: string;
  readonly sequence: number;
  /** The same job id was filed before (a retry): nothing new was filed. */
  readonly duplicate: boolean;
}

/** Why a jobs-API call did not file the job, in the terms of this API. */
export class JobsApiError extends ApiError {
  /** The jobs API's own status, when it answered (logged, never sent). */
  upstreamStatus: number | undefined;
}

export interface ProvisioningJobsOptions {
  /** The provisioning service's base URL. */
  readonly url: string;
  readonly timeoutMs: number;
}

/** The provisioning service's jobs API, called with the caller's own tenant token. */
export class ProvisioningJobs {
  constructor(private readonly o: ProvisioningJobsOptions) {}

  async submitRevert(token: string, projectId: string, jobId: string, input: RevertInput): Promise<FiledJob> {
    let res: Response;
    try {
      res = await fetch(`${this.o.url}/v1/projects/${encodeURIComponent(projectId)}/jobs`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ type: REPLAY_JOB_TYPE, jobId, input }),
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw timedOut
        ? new JobsApiError(504, "upstream_timeout", `the jobs service did not answer within ${this.o.timeoutMs} ms; retry (the same replay is filed once)`)
        : new JobsApiError(502, "upstream_unavailable", "the jobs service cannot be reached; retry (the same replay is filed once)");
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status === 200 || res.status === 202) {
      const b = body as Partial<FiledJob> | undefined;
      if (!b || typeof b.job !== "object" || b.job === null || typeof b.lane !== "string" || typeof b.tier !== "string" || typeof b.sequence !== "number") {
        throw new Error(`the jobs API answered ${res.status} without a job: ${text.slice(0, 200)}`);
      }
      return { job: b.job as Readonly<Record<string, unknown>>, lane: b.lane, tier: b.tier, sequence: b.sequence, duplicate: b.duplicate === true };
    }
    const upstream = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const message = typeof upstream?.message === "string" ? upstream.message.slice(0, 500) : `status ${res.status}`;
    const code = typeof upstream?.code === "string" && /^[a-z_]{1,64}$/.test(upstream.code) ? upstream.code : undefined;
    // What the caller can act on passes through (who they are, what their role allows, the tenant, limits).
    if (res.status === 401) throw new JobsApiError(401, "unauthorized", "a valid bearer access token is required");
    if (res.status === 403 || res.status === 404 || res.status === 409 || res.status === 429 || res.status === 503) {
      const retryAfter = res.headers.get("retry-after");
      throw new JobsApiError(res.status, code ?? "refused", `the jobs service refused the replay: ${message}`, undefined, undefined, retryAfter && /^\d{1,6}$/.test(retryAfter) ? { "retry-after": retryAfter } : undefined);
    }
    if (res.status >= 500) {
      const failed = new JobsApiError(502, "upstream_error", "the jobs service failed to file the replay; retry (the same replay is filed once)");
      failed.upstreamStatus = res.status;
      throw failed;
    }
    // A request the jobs API should never refuse (400, 413, 415): this service's bug, a bare 500.
    throw new Error(`the jobs API answered ${res.status}: ${text.slice(0, 300)}`);
  }
}
