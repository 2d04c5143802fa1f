/**
 * The service's platform-account side of the bus (PROVISIONING_NATS_PLATFORM_CREDS_FILE), with
 * the permissions of services/nats-auth/claims.ts `provisioningBusPermissions`:
 * - the jobs API publishes a tenant's job into its tier's lane (`swarm.<tenant>.jobs.<tier>`)
 *   with a JetStream ack and the job id as `Nats-Msg-Id` (a retried request is stored once);
 * - the workers' credential requests (`platform.credentials.<tier>`, queue group
 *   `provisioning`) are answered with short-lived credentials of the job's tenant, only for an
 *   active tenant of exactly that tier (the subject's tier is the server-enforced one);
 * - an offboarded tenant's messages are purged from `SWARM_EVENTS` (`swarm.<tenant>.events`) and
 *   `SWARM_JOBS` (`swarm.<tenant>.jobs.*`) with subject-filtered purges (the outbox's
 *   `events.delete`); the user may call no other JetStream API.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { assertTenantId, TENANT_ID_PATTERN } from "../../../config/tenancy.js";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../../config/tiers.js";
import { PROVISIONING_INBOX_PREFIX } from "../../nats-auth/claims.js";
import { jobSubject, storedEventSubject, STREAM_NAMES, SUBJECT_ROOT, WORKER_CREDENTIALS_QUEUE, WORKER_CREDENTIALS_SUBJECT_PREFIX } from "../../nats-auth/jetstream-names.js";
import type { JobMessage } from "../../worker/contract.js";
import type { ControlPlane, TenantRecord } from "./control-plane.js";
import { ApiError } from "./errors.js";
import type { BusMinter } from "./nats.js";
import type { TenantStreams } from "./outbox.js";

export type { JobMessage };

/** Every job lane of one tenant in `SWARM_JOBS`: `swarm.<tenant>.jobs.*` (a tier change leaves jobs in the old lane). */
export function tenantJobsFilter(tenantId: string): string {
  return `${SUBJECT_ROOT}.${assertTenantId(tenantId)}.jobs.*`;
}

/** Seconds a worker's tenant credentials live: a job longer than this reconnects with new ones. */
export const WORKER_CREDENTIALS_TTL_SECONDS = 900;

export interface PlatformBusOptions {
  readonly url: string;
  readonly credsFile: string;
  readonly tlsCaFile?: string | undefined;
  readonly plane: ControlPlane;
  readonly minter: BusMinter | undefined;
  /** The API origin the credentials carry (data keys). */
  readonly api: string;
  readonly log: { warn(o: object, m: string): void; info(o: object, m: string): void };
}

export class PlatformBus implements TenantStreams {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    /** Without the account-info check: the user may call the purge API of two streams and nothing else. */
    private readonly jsm: JetStreamManager,
    private readonly sub: Subscription | undefined,
  ) {}

  static async start(o: PlatformBusOptions): Promise<PlatformBus> {
    const nc = await connect({
      servers: o.url,
      name: "provisioning-platform",
      authenticator: credsAuthenticator(readFileSync(o.credsFile)),
      inboxPrefix: PROVISIONING_INBOX_PREFIX,
      maxReconnectAttempts: -1,
      ...(o.tlsCaFile ? { tls: { caFile: o.tlsCaFile } } : {}),
    });
    const minter = o.minter;
    const sub = minter
      ? nc.subscribe(`${WORKER_CREDENTIALS_SUBJECT_PREFIX}.*`, {
          queue: WORKER_CREDENTIALS_QUEUE,
          callback: (_error, msg) => void PlatformBus.answer(msg, o, minter),
        })
      : undefined;
    return new PlatformBus(nc, jetstream(nc), await jetstreamManager(nc, { checkAPI: false }), sub);
  }

  /** One worker's request `{ "tenantId": … }` on `platform.credentials.<tier>`. */
  private static async answer(msg: Msg, o: PlatformBusOptions, minter: BusMinter): Promise<void> {
    const tier = msg.subject.slice(WORKER_CREDENTIALS_SUBJECT_PREFIX.length + 1) as PlanTierName;
    const refuse = (code: string, message: string): void => void msg.respond(JSON.stringify({ error: { code, message } }));
    try {
      if (!PLAN_TIER_NAMES.includes(tier)) return refuse("invalid_request", `${msg.subject} names no tier`);
      let tenantId: unknown;
      try {
        tenantId = (msg.json() as { tenantId?: unknown }).tenantId;
      } catch {
        return refuse("invalid_request", "the request is not JSON { tenantId }");
      }
      if (typeof tenantId !== "string" || !TENANT_ID_PATTERN.test(tenantId)) return refuse("invalid_request", "tenantId is not a tenant id");
      const tenant = await o.plane.tenant(tenantId);
      if (!tenant || tenant.status !== "active" || tenant.planTier !== tier) {
        // A job of an offboarded tenant, or left in an old lane by a tier change: its worker terminates it.
        return refuse("not_found", `no active tenant ${tenantId} on the ${tier} tier`);
      }
      const creds = await minter.mint(tenant.id, tenant.planTier, WORKER_CREDENTIALS_TTL_SECONDS, tenant.busAccount);
      msg.respond(JSON.stringify({ tenantId: tenant.id, jwt: creds.jwt, seed: creds.seed, expiresAt: creds.expiresAt, api: o.api }));
    } catch (error) {
      o.log.warn({ err: String(error), subject: msg.subject }, "worker credential request failed");
      refuse("internal", "credentials could not be minted");
    }
  }

  /** Publishes one job into the tenant's tier lane; resolves with the job once JetStream stored it. */
  async submit(tenant: TenantRecord, projectId: string, job: { type: string; input: Record<string, unknown>; jobId?: string | undefined }, userId: string): Promise<{ job: JobMessage; subject: string; sequence: number; duplicate: boolean }> {
    const message: JobMessage = { jobId: job.jobId ?? randomUUID(), type: job.type, tenantId: tenant.id, projectId, input: job.input, submittedBy: userId, submittedAt: new Date().toISOString() };
    const subject = jobSubject(tenant.id, tenant.planTier);
    try {
      const ack = await this.js.publish(subject, JSON.stringify(message), { msgID: message.jobId, timeout: 5_000 });
      return { job: message, subject, sequence: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      const text = String((error as Error).message);
      if (/maximum messages per subject/i.test(text)) throw new ApiError(429, "too_many_requests", `the tenant's job backlog is full (its ${tenant.planTier} tier's bound); retry when its workers caught up`);
      throw new ApiError(503, "unavailable", `the job was not stored (${text}); retry with the same jobId`);
    }
  }

  /**
   * Removes every message of `tenantId` from `SWARM_EVENTS` and `SWARM_JOBS` (subject-filtered
   * purges); answers how many each removed. Purging again finds what arrived since.
   */
  async purgeTenant(tenantId: string): Promise<{ events: number; jobs: number }> {
    const events = await this.jsm.streams.purge(STREAM_NAMES.events, { filter: storedEventSubject(tenantId) });
    const jobs = await this.jsm.streams.purge(STREAM_NAMES.jobs, { filter: tenantJobsFilter(tenantId) });
    return { events: events.purged, jobs: jobs.purged };
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    await this.nc.drain().catch(() => this.nc.close());
  }
}

