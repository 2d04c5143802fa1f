/**
 * The shapes the console reads and sends, as the services answer them. Each is copied from the
 * route's handler (their handlers import node-only code; types from the dependency-free contracts,
 * each service's contract.ts and services/identity/names.ts, are imported instead of copied):
 * - provisioning: services/provisioning/src/http.ts (+ control-plane.ts `tenantView`,
 *   invitations.ts `InvitationView` / `MyInvitationView`);
 * - events API: services/events-api/src/http.ts (`eventView`, `payloadView`, `stateView`, usage).
 */
import type { JobMessage } from "../../services/worker/contract.js";
import type { TenantRole } from "../../services/identity/names.js";

export type { TenantRole };

/** control-plane.ts `TenantView`. */
export interface Tenant {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly planTier: string;
  readonly status: "active" | "offboarded";
  readonly createdAt: string;
  readonly payloadEncryption: boolean;
  readonly history: "kept" | "deleting" | "deleted";
  readonly historyDeletedAt?: string;
}

/** `GET /v1/tenants`: a tenant and my role in it (control-plane.ts `MembershipView`). */
export type Membership = Tenant & { readonly role: TenantRole };

/** `POST /v1/tenants/{tenantId}/token`. */
export interface TenantTokenAnswer {
  readonly access_token: string;
  readonly token_type: "Bearer";
  readonly expires_in: number;
  /** Unix seconds. */
  readonly expires_at: number;
  readonly tenant_id: string;
  readonly plan_tier: string;
  readonly role: TenantRole;
}

export interface Member {
  readonly userId: string;
  readonly role: TenantRole;
  readonly addedAt: string;
  readonly email?: string;
}

/** invitations.ts `InvitationView` (what an admin sees). */
export interface Invitation {
  readonly id: string;
  readonly tenantId: string;
  readonly email: string;
  readonly role: TenantRole;
  readonly invitedBy: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly status: "pending" | "accepted" | "cancelled" | "expired";
  readonly delivery: string;
}

/** invitations.ts `MyInvitationView` (what the invitee sees). */
export interface MyInvitation {
  readonly id: string;
  readonly tenantId: string;
  readonly tenantName: string;
  readonly role: TenantRole;
  readonly expiresAt: string;
}

export interface AcceptedInvitation {
  readonly tenantId: string;
  readonly role: TenantRole;
  readonly invitationId: string;
}

/** `POST /v1/tenants/{tenantId}/bus-credentials` (201). */
export interface BusCredentials {
  readonly tenantId: string;
  readonly jwt: string;
  /** The nkey seed: a secret, shown once. */
  readonly seed: string;
  /** The NATS creds file text (JWT and seed). */
  readonly creds: string;
  readonly publicKey: string;
  readonly inboxPrefix: string;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly account: string;
  readonly subjects: readonly string[];
  readonly userId: string;
  readonly servers: readonly string[];
  readonly ca?: string;
  readonly api: string;
}

export interface RevokedCredentials {
  readonly tenantId: string;
  readonly publicKey: string;
  readonly revokedAt: string;
}

/** `GET /v1/tenants/{tenantId}/limits`: the tier's whole catalog entry (config/tiers.ts), read-only. */
export interface TenantLimits {
  readonly tenantId: string;
  readonly planTier: string;
  readonly limits: Readonly<Record<string, unknown>> & { readonly displayName?: string; readonly events?: { readonly perDay: number; readonly retentionDays: number } };
}

/** `GET /v1/tenants/{tenantId}/usage`: the provisioning service's counters and allowances. */
export interface TenantUsage {
  readonly tenantId: string;
  readonly planTier: string;
  readonly usage: Readonly<Record<string, number>>;
  readonly allowances: { readonly eventsPerDay: number; readonly busConnections: number; readonly busCredentialsPerDay: number; readonly members: number; readonly pendingInvitations: number };
}

/** services/clickhouse-schema/table.ts `EVENT_TYPES`. */
export const EVENT_TYPES = ["decision", "state_change", "system_signal"] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** events-api http.ts `eventView`: a timeline row. */
export interface EventSummary {
  readonly eventId: string;
  readonly timestamp: string;
  readonly eventType: EventType;
  readonly agentId: string;
  readonly agentRole: string | null;
  readonly userId: string;
  readonly projectId: string;
  readonly encrypted: boolean;
  readonly confidenceScore: number | null;
  readonly rationale: string | null;
  readonly targetResource: string | null;
  readonly stateHash: string | null;
  readonly traceId: string | null;
  readonly spanId: string | null;
}

export interface EventPage {
  readonly events: readonly EventSummary[];
  readonly nextCursor: string | null;
}

export type PayloadReason = "key_destroyed" | "key_unavailable" | "undecryptable" | "not_stored";

/** `GET /v1/events/{eventId}`: the row, when it was ingested, and its payload when it can be read. */
export type EventDetail = EventSummary & {
  readonly ingestedAt: string;
  readonly payload: Readonly<Record<string, unknown>> | null;
  /** Present on encrypted events: whether the API opened the payload. */
  readonly decrypted?: boolean;
  readonly reason?: PayloadReason;
  readonly detail?: string;
};

export interface CrashDecision {
  readonly eventId: string;
  readonly timestamp: string;
  readonly agentRole: string | null;
  readonly confidenceScore: number;
  readonly rationale: string;
  readonly traceId: string | null;
  readonly spanId: string | null;
}

export interface CrashContext {
  readonly agentId: string;
  readonly before: string;
  readonly decisions: readonly CrashDecision[];
}

export interface Loop {
  readonly projectId: string;
  readonly resource: string;
  readonly modifications: number;
  readonly agents: readonly string[];
  readonly firstModified: string;
  readonly lastModified: string;
}

export interface LoopsAnswer {
  readonly until: string;
  readonly windowSeconds: number;
  readonly minModifications: number;
  readonly loops: readonly Loop[];
}

export interface StateEntry {
  readonly eventId: string;
  readonly timestamp: string;
  /** Empty when the change deleted the resource. */
  readonly stateHash: string;
  readonly deleted: boolean;
  readonly agentId: string;
  readonly agentRole: string | null;
  readonly userId: string;
  readonly encrypted: boolean;
}

export interface StateHistory {
  readonly projectId: string;
  readonly resource: string;
  readonly states: readonly StateEntry[];
  readonly nextCursor: string | null;
}

/** A job as the jobs API and the replay answer name it: the worker's own message type (a type only: nothing of the worker is bundled). */
export type Job = JobMessage;

/** `POST /v1/projects/{projectId}/replays` (202). */
export interface Replay {
  readonly projectId: string;
  readonly resource: string;
  readonly state: { readonly stateHash: string; readonly eventId: string; readonly timestamp: string; readonly agentId: string; readonly userId: string };
  readonly job: Job;
  readonly lane: string;
  readonly tier: string;
  readonly sequence: number;
  readonly duplicate: boolean;
}

/** `GET /v1/usage` of the events API. */
export interface EventUsage {
  readonly planTier: string;
  readonly day: string;
  readonly month: string;
  readonly events: { readonly today: number; readonly thisMonth: number; readonly allowancePerDay: number; readonly remainingToday: number };
  readonly overQuota: boolean;
  readonly rejected: {
    readonly quota: { readonly today: number; readonly thisMonth: number };
    readonly expired: { readonly today: number; readonly thisMonth: number };
  };
}

export interface TimelineFilters {
  readonly projectId?: string;
  readonly agentId?: string;
  readonly eventType?: EventType;
  /** RFC 3339. */
  readonly from?: string;
  /** RFC 3339. */
  readonly to?: string;
}
