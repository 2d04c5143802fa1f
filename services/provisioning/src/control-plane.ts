/**
 * The control plane's records and every transaction on them.
 *
 * Key layout (tuples, see store/tuple.ts). A tenant's own records all live in its subspace
 * `("t", <tenant id>, …)`; no operation on one tenant reads outside its subspace except the
 * global indexes below, which hold no tenant data beyond ids:
 *
 * | key | value |
 * |---|---|
 * | `("t", tid, "meta")` | {@link TenantRecord}: name, slug, plan tier, status (kept as a tombstone after offboarding) |
 * | `("t", tid, "m", userId)` | {@link MemberRecord}: the role (owner, admin, member, viewer) |
 * | `("t", tid, "usage", name)` | atomic 64-bit counter (members, owners, pending invitations, credentials minted, per day) |
 * | `("t", tid, "inv", invitationId)` | {@link InvitationRecord}: e-mail, role, expiry, the SHA-256 of its secret |
 * | `("t", tid, "key")` | {@link WrappedDataKey}: only the wrapped key; cleared at offboarding (crypto-shredding) |
 * | `("t", tid, "cred", userPublicKey)` | {@link CredentialRecord} of every minted bus credential |
 * | `("t", tid, "rev", userPublicKey)` | {@link RevocationRecord} of a credential revoked while the tenant is active (its account JWT lists it until it expires) |
 * | `("t", tid, "ol", lane, n)` | per-tenant lane index of pending outbox entries (order of effects) |
 * | `("u", userId, tid)` | the user's memberships ("my tenants"): `{role}` |
 * | `("uc", userId, name)` | the user's counters (active tenants created, tenants created per UTC day) |
 * | `("inv", sha256(secret))` | an invitation's secret → tenant and invitation (cleared when used or cancelled) |
 * | `("ie", email, tid, invitationId)` | pending invitations by invited e-mail ("my invitations") |
 * | `("billing", eventId)` | {@link BillingEventRecord}: a billing delivery already applied (idempotency) |
 * | `("slug", slug)` | owner of a slug: reserved forever, also after offboarding |
 * | `("o", n, tid, lane)` | {@link OutboxEntry}: a side effect to apply, in commit order |
 * | `("idem", userId, key)` | {@link IdempotencyRecord}: the first answer to an `Idempotency-Key` |
 * | `("revoked", userPublicKey)` | revoked bus credentials (until they expire) |
 * | `("pass", name)` | a one-time pass over every tenant that completed (`plan-rows`: {@link ControlPlane.backfillPlans}) |
 * | `("pk", "sign", kid)`, `("pk", "invite")` | the platform's wrapped keys (platform-keys.ts) |
 *
 * Nothing about a tenant lives in Keycloak: memberships and roles are here. The only Keycloak
 * write is per user, the realm role `tenant-admin` ("administers at least one tenant", which makes
 * OTP required at login), granted and revoked by the outbox as owner/admin memberships come and go.
 *
 * Limits are never stored: they derive from the tenant's plan tier and the catalog in `config/`.
 *
 * Every transaction function here is idempotent under re-execution after a commit whose result
 * was unknown (see store/kv.ts): it first reads what its own earlier attempt would have written.
 */
import { createHash, randomBytes } from "node:crypto";
import { FastKeyPair, NKEY_PREFIX } from "./fast-nkeys.js";
import { DEFAULT_PLAN_TIER, type PlanTier, type PlanTierName, type TierCatalog, type UserLimits } from "../../../config/tiers.js";
import { roleAtLeast, TENANT_ACTIONS, type TenantAction, type TenantRole } from "../../identity/names.js";
import { ApiError, conflict, forbidden, notFound, tenantNotFound, tooMany } from "./errors.js";

/** A credential that is not the caller's, unknown or already revoked: one answer for all. */
const credentialNotFound = (): ApiError => new ApiError(404, "not_found", "credential not found");
import { getCounter, getJson, setJson, type KvStore, type KvTransaction, type Tuple } from "./store/kv.js";

export type TenantStatus = "active" | "offboarded";
/**
 * The tenant's history in the event store and the shared streams: `kept` while it is active,
 * `deleting` from offboarding until the outbox's `events.delete` found none of its rows and
 * messages left, then `deleted`.
 */
export type TenantHistory = "kept" | "deleting" | "deleted";
export type EffectState = "pending" | "ready" | "skipped" | "removed" | "destroyed";

export interface TenantRecord {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly planTier: PlanTierName;
  readonly status: TenantStatus;
  readonly createdAt: string;
  readonly createdBy: string;
  /** The request that created it: a re-run of that request's transaction recognizes its own tenant. */
  readonly requestId: string;
  readonly updatedAt: string;
  /** The last entitlement change (billing delivery or operator) that set `planTier`. */
  readonly entitlement?: EntitlementSource;
  readonly dataKey: EffectState;
  /** The public key (`A…`) of the tenant's NATS account, made with the tenant; its seed is never kept. */
  readonly busAccount: string;
  /** Whether the tenant's account JWT reached the NATS resolver: `ready`, `removed` (offboarded), `skipped` (no NATS configured). */
  readonly bus: EffectState;
  readonly offboardedAt?: string;
  /** The tenant's agents seal their payloads' free text with its data key (the SDK reads this with the key). Unset: off. */
  readonly payloadEncryption?: boolean;
  /** Last outbox sequence number used for this tenant (effects of a tenant are ordered by it). */
  readonly effectClock: number;
  /** Where the tenant's history stands (unset on records older than the field: {@link historyOf}). */
  readonly history?: TenantHistory;
  /** When the deletion of the tenant's history was verified complete. */
  readonly historyDeletedAt?: string;
  /**
   * When the event store first held this tenant's `offboarded` plan row (epoch ms): its history is
   * deleted no sooner than {@link HISTORY_DELETION_GRACE_MS} after it (outbox.ts `events.delete`).
   */
  readonly offboardedPlanAt?: number;
  /**
   * When the event store last received this tenant's plan row (epoch ms, `events.plan`). Unset on
   * a tenant created before plan rows existed: {@link ControlPlane.backfillPlans} queues its row.
   */
  readonly planRowAt?: number;
}

/** A tenant's {@link TenantHistory}; a record older than the field: kept while active, else deleting. */
export function historyOf(t: Pick<TenantRecord, "status" | "history">): TenantHistory {
  return t.history ?? (t.status === "active" ? "kept" : "deleting");
}

export interface MemberRecord {
  readonly userId: string;
  readonly role: TenantRole;
  readonly addedAt: string;
  /** The verified e-mail the member accepted an invitation with (the creator's at creation). */
  readonly email?: string;
  /** The invitation the member joined through. */
  readonly invitationId?: string;
}

/** Where a plan tier came from. */
export type EntitlementSource =
  | { readonly kind: "default"; readonly at: string }
  | { readonly kind: "billing"; readonly eventId: string; /** The provider's event time, seconds. */ readonly created: number; readonly at: string }
  | { readonly kind: "operator"; readonly userId: string; readonly at: string };

export type InvitationStatus = "pending" | "accepted" | "cancelled";

export interface InvitationRecord {
  readonly id: string;
  readonly tenantId: string;
  /** Lower-cased. */
  readonly email: string;
  readonly role: TenantRole;
  readonly invitedBy: string;
  readonly createdAt: string;
  /** ms since the epoch */
  readonly expiresAt: number;
  /** base64url SHA-256 of the secret; the secret itself is never stored (it is derived, see platform-keys.ts). */
  readonly secretHash: string;
  readonly status: InvitationStatus;
  /** The e-mail's delivery: `pending`, `sent`, `skipped` (no mail configured). */
  readonly delivery: "pending" | "sent" | "skipped";
  readonly acceptedBy?: string;
  readonly acceptedAt?: string;
}

export interface BillingEventRecord {
  readonly eventId: string;
  readonly tenantId: string;
  readonly statusCode: number;
  readonly body: unknown;
  readonly at: string;
}

export interface WrappedDataKey {
  readonly provider: "kms" | "local";
  /** KMS key ARN, or the local KEK's fingerprint. */
  readonly keyId: string;
  /** Base64 of the KMS CiphertextBlob, or of the AES-256-GCM ciphertext. */
  readonly ciphertext: string;
  readonly iv?: string;
  readonly tag?: string;
  readonly createdAt: string;
}

export interface CredentialRecord {
  readonly publicKey: string;
  readonly userId: string;
  readonly issuedAt: number;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

export interface RevocationRecord {
  readonly publicKey: string;
  readonly tenantId: string;
  /** Seconds since the epoch; the account JWT's `revocations` value. */
  readonly revokedAt: number;
  readonly expiresAt: number;
}

export const EFFECT_KINDS = ["datakey.create", "keycloak.grant-admin", "keycloak.revoke-admin", "mail.invitation", "nats.account", "nats.revoke", "tenant.purge", "events.plan", "events.delete"] as const;
export type EffectKind = (typeof EFFECT_KINDS)[number];

/** Effects of one tenant in one lane apply in commit order; lanes are independent (a Keycloak outage does not hold up revocation). */
export const EFFECT_LANES: Readonly<Record<EffectKind, string>> = {
  "datakey.create": "datakey",
  // Grants and revocations of the realm role of one tenant's members, in commit order.
  "keycloak.grant-admin": "keycloak",
  "keycloak.revoke-admin": "keycloak",
  "mail.invitation": "mail",
  // Every push of the tenant's account JWT renders the record as it is then: the last one wins.
  "nats.account": "nats",
  "nats.revoke": "tenant",
  "tenant.purge": "tenant",
  // The event store's effects of one tenant, in commit order: each plan row renders the record as
  // it is then (the last one carries the current tier and status), and the deletion runs only
  // after the plan row that says offboarded.
  "events.plan": "events",
  "events.delete": "events",
};

export interface OutboxEntry {
  readonly seq: number;
  readonly tenantId: string;
  readonly kind: EffectKind;
  readonly payload: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
  readonly attempts: number;
  /** ms since the epoch */
  readonly notBefore: number;
  readonly leaseOwner?: string;
  /** ms since the epoch */
  readonly leaseUntil?: number;
  readonly lastError?: string;
}

export interface IdempotencyRecord {
  readonly fingerprint: string;
  readonly statusCode: number;
  readonly body: unknown;
  readonly createdAt: string;
}

/** The fields of a {@link TenantRecord} a caller sees, in answer order. */
const TENANT_VIEW_FIELDS = ["id", "slug", "name", "planTier", "status", "createdAt", "dataKey", "busAccount", "bus"] as const satisfies readonly (keyof TenantRecord)[];

/** What a caller sees of a tenant: its fields, and where its history stands (with when it was deleted). */
export type TenantView = Pick<TenantRecord, (typeof TENANT_VIEW_FIELDS)[number]> & { readonly payloadEncryption: boolean; readonly history: TenantHistory; readonly historyDeletedAt?: string };

export function tenantView(t: TenantRecord): TenantView {
  return {
    ...(Object.fromEntries(TENANT_VIEW_FIELDS.map((f) => [f, t[f]])) as Pick<TenantRecord, (typeof TENANT_VIEW_FIELDS)[number]>),
    payloadEncryption: t.payloadEncryption === true,
    history: historyOf(t),
    ...(t.historyDeletedAt === undefined ? {} : { historyDeletedAt: t.historyDeletedAt }),
  };
}

/** What the agent routes read in one transaction: the tenant, whether a credential is revoked, the wrapped data key. */
export interface AgentLookup {
  readonly tenant: TenantRecord | undefined;
  readonly revoked: RevocationRecord | undefined;
  readonly wrapped: WrappedDataKey | undefined;
}

export const keys = {
  meta: (tid: string) => ["t", tid, "meta"],
  member: (tid: string, uid: string) => ["t", tid, "m", uid],
  members: (tid: string) => ["t", tid, "m"],
  usage: (tid: string, name: string) => ["t", tid, "usage", name],
  usages: (tid: string) => ["t", tid, "usage"],
  dataKey: (tid: string) => ["t", tid, "key"],
  credential: (tid: string, pk: string) => ["t", tid, "cred", pk],
  credentials: (tid: string) => ["t", tid, "cred"],
  tenantRevocation: (tid: string, pk: string) => ["t", tid, "rev", pk],
  tenantRevocations: (tid: string) => ["t", tid, "rev"],
  lane: (tid: string, lane: string) => ["t", tid, "ol", lane],
  laneEntry: (tid: string, lane: string, seq: number) => ["t", tid, "ol", lane, seq],
  invitation: (tid: string, id: string) => ["t", tid, "inv", id],
  invitations: (tid: string) => ["t", tid, "inv"],
  userTenant: (uid: string, tid: string) => ["u", uid, tid],
  userTenants: (uid: string) => ["u", uid],
  userCounter: (uid: string, name: string) => ["uc", uid, name],
  invitationSecret: (hash: string) => ["inv", hash],
  invitationByEmail: (email: string, tid: string, id: string) => ["ie", email, tid, id],
  invitationsByEmail: (email: string) => ["ie", email],
  billingEvent: (id: string) => ["billing", id],
  slug: (slug: string) => ["slug", slug],
  outbox: () => ["o"],
  outboxEntry: (seq: number, tid: string, lane: string) => ["o", seq, tid, lane],
  idempotency: (uid: string, key: string) => ["idem", uid, key],
  revoked: (pk: string) => ["revoked", pk],
  revokedAll: () => ["revoked"],
  /** A one-time pass over every tenant that has completed (its time): `backfillPlans({ once: true })`. */
  completedPass: (name: string) => ["pass", name],
} as const;

export const USAGE_COUNTERS = { members: "members", owners: "owners", pendingInvitations: "pending_invitations", busCredentialsMinted: "bus_credentials_minted" } as const;
/** The per-day counter of credentials minted (`bus_credentials:<yyyy-mm-dd>`). */
export const credentialsOfDay = (day: string): string => `bus_credentials:${day}`;
const USER_COUNTERS = { activeTenants: "active_tenants", createdOfDay: (day: string) => `created:${day}` } as const;
const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** What a member sees of a tenant: the tenant and their own role. */
export type MembershipView = TenantView & { readonly role: TenantRole };

export interface CreateTenantInput {
  readonly userId: string;
  /** The creator's verified e-mail (kept on the owner membership). */
  readonly email?: string;
  readonly name: string;
  readonly slug: string;
  readonly idempotencyKey?: string;
  /** Unique per HTTP request, generated before the transaction. */
  readonly requestId: string;
}

export interface Answer {
  readonly statusCode: number;
  readonly body: unknown;
  readonly replayed: boolean;
}

/** A new tenant id: `t` + 24 hex digits (matches TENANT_ID_PATTERN; not guessable, not derived from the slug). */
export function newTenantId(): string {
  return `t${randomBytes(12).toString("hex")}`;
}

/** The ids a new tenant is created with: its id and its NATS account's public key. */
export interface TenantIdentity {
  readonly tenantId: string;
  /** The tenant's NATS account: only its public key is kept (its JWT is signed by the operator's key). */
  readonly busAccount: string;
}

export function newTenantIdentity(): TenantIdentity {
  return { tenantId: newTenantId(), busAccount: FastKeyPair.create(NKEY_PREFIX.account).getPublicKey() };
}

function fingerprint(input: CreateTenantInput): string {
  return createHash("sha256").update(JSON.stringify([input.name, input.slug])).digest("base64url");
}

export interface ControlPlaneOptions {
  readonly store: KvStore;
  readonly catalog: TierCatalog;
  readonly userLimits: UserLimits;
  readonly now?: () => number;
  /** Called after a transaction that enqueued effects commits (wakes the outbox worker). */
  readonly onEnqueued?: () => void;
}

/**
 * In `tx`: the active tenant and `userId`'s membership, the member allowed `action`. The one
 * not-found answer when the tenant is missing, offboarded or not the user's; 403 naming the role
 * needed when the member's role is too weak. Every tenant operation checks its caller through this.
 */
export async function memberFor(tx: KvTransaction, tenantId: string, userId: string, action: TenantAction): Promise<{ tenant: TenantRecord; member: MemberRecord }> {
  const [tenant, member] = await Promise.all([getJson<TenantRecord>(tx, keys.meta(tenantId)), getJson<MemberRecord>(tx, keys.member(tenantId, userId))]);
  if (!tenant || tenant.status !== "active" || !member) throw tenantNotFound();
  const needed = TENANT_ACTIONS[action].minRole;
  if (!roleAtLeast(member.role, needed)) throw forbidden(`${action} needs the ${needed} role or stronger; you are ${member.role}`);
  return { tenant, member };
}

export class ControlPlane {
  readonly store: KvStore;
  readonly catalog: TierCatalog;
  readonly userLimits: UserLimits;
  private readonly now: () => number;
  private readonly onEnqueued: () => void;

  constructor(options: ControlPlaneOptions) {
    this.store = options.store;
    this.catalog = options.catalog;
    this.userLimits = options.userLimits;
    this.now = options.now ?? Date.now;
    this.onEnqueued = options.onEnqueued ?? (() => undefined);
  }

  /** Wakes the outbox worker (after a transaction that enqueued effects committed). */
  wake(): void {
    this.onEnqueued();
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  /** Appends an effect to the outbox in `tx` (the caller's transaction) and bumps the tenant's clock. */
  enqueue(tx: KvTransaction, tenant: TenantRecord, effects: readonly { kind: EffectKind; payload: Record<string, unknown> }[]): TenantRecord {
    let clock = tenant.effectClock;
    for (const e of effects) {
      clock = Math.max(this.now(), clock + 1);
      const lane = EFFECT_LANES[e.kind];
      const entry: OutboxEntry = { seq: clock, tenantId: tenant.id, kind: e.kind, payload: e.payload, createdAt: this.iso(), attempts: 0, notBefore: 0 };
      setJson(tx, keys.outboxEntry(clock, tenant.id, lane), entry);
      tx.set(keys.laneEntry(tenant.id, lane, clock), new Uint8Array(0));
    }
    return { ...tenant, effectClock: clock };
  }

  /**
   * Creates a tenant for `input.userId` on the catalog's default tier, with its owner membership,
   * slug reservation, usage counters and outbox entries (account, data key, the owner's realm
   * role, the plan row in the event store) in ONE transaction. The user's caps (active tenants created, tenants per UTC day) are
   * checked and counted in it. With an Idempotency-Key the first answer is stored in the same
   * transaction and returned to every repeat.
   */
  async createTenant(input: CreateTenantInput): Promise<Answer> {
    // Made once, outside the transaction: a re-run after commit_unknown_result writes the same ids.
    const made = newTenantIdentity();
    const answer = await this.store.transact((tx) => this.createTenantIn(tx, input, made));
    if (answer.statusCode === 201 && !answer.replayed) this.onEnqueued();
    return answer;
  }

  /**
   * The transaction of {@link createTenant} in `tx`, with the ids `made` for it. Exported so a bulk
   * load (`npm run bench:scale`) commits exactly these operations, many tenants per transaction;
   * the caller wakes the outbox ({@link wake}) after its commit.
   */
  async createTenantIn(tx: KvTransaction, input: CreateTenantInput, made: TenantIdentity): Promise<Answer> {
    const fp = fingerprint(input);
    const { tenantId, busAccount } = made;
    if (input.idempotencyKey !== undefined) {
      const prior = await getJson<IdempotencyRecord>(tx, keys.idempotency(input.userId, input.idempotencyKey));
      if (prior) {
        if (prior.fingerprint !== fp) {
          return { statusCode: 422, body: { error: { code: "idempotency_key_reused", message: "this Idempotency-Key was used with a different request body", field: "headers.idempotency-key" } }, replayed: true };
        }
        return { statusCode: prior.statusCode, body: prior.body, replayed: true };
      }
    }
    const owner = await getJson<{ tenantId: string; requestId: string }>(tx, keys.slug(input.slug));
    let result: Answer;
    const day = utcDay(this.now());
    if (owner && owner.requestId === input.requestId) {
      // This very request committed in an earlier attempt (commit_unknown_result): same answer.
      const t = await getJson<TenantRecord>(tx, keys.meta(owner.tenantId));
      return { statusCode: 201, body: { tenant: t ? { ...tenantView(t), role: "owner" } : undefined }, replayed: false };
    } else if (owner) {
      result = { statusCode: 409, body: conflict("this slug is taken (slugs stay reserved forever)", "body.slug").body(), replayed: false };
    } else {
      const [active, today] = await Promise.all([getCounter(tx, keys.userCounter(input.userId, USER_COUNTERS.activeTenants)), getCounter(tx, keys.userCounter(input.userId, USER_COUNTERS.createdOfDay(day)))]);
      if (active >= this.userLimits.activeTenants) {
        result = { statusCode: 429, body: tooMany("tenant_limit", `you have ${active} active tenants, the most one user may create (${this.userLimits.activeTenants}): offboard one first`).body(), replayed: false };
      } else if (today >= this.userLimits.tenantsPerDay) {
        result = { statusCode: 429, body: tooMany("tenant_limit", `you created ${today} tenants today (UTC), the most one user may create per day (${this.userLimits.tenantsPerDay}): try again tomorrow`).body(), replayed: false };
      } else {
        const at = this.iso();
        let tenant: TenantRecord = {
          id: tenantId,
          slug: input.slug,
          name: input.name,
          planTier: DEFAULT_PLAN_TIER,
          status: "active",
          createdAt: at,
          createdBy: input.userId,
          requestId: input.requestId,
          updatedAt: at,
          entitlement: { kind: "default", at },
          dataKey: "pending",
          busAccount,
          bus: "pending",
          effectClock: 0,
          history: "kept",
        };
        tenant = this.enqueue(tx, tenant, [
          { kind: "nats.account", payload: {} },
          { kind: "datakey.create", payload: {} },
          { kind: "keycloak.grant-admin", payload: { userIds: [input.userId] } },
          { kind: "events.plan", payload: {} },
        ]);
        setJson(tx, keys.meta(tenantId), tenant);
        setJson(tx, keys.slug(input.slug), { tenantId, requestId: input.requestId });
        const member: MemberRecord = { userId: input.userId, role: "owner", addedAt: at, ...(input.email ? { email: input.email } : {}) };
        setJson(tx, keys.member(tenantId, input.userId), member);
        setJson(tx, keys.userTenant(input.userId, tenantId), { role: "owner" });
        tx.add(keys.usage(tenantId, USAGE_COUNTERS.members), 1);
        tx.add(keys.usage(tenantId, USAGE_COUNTERS.owners), 1);
        tx.add(keys.usage(tenantId, USAGE_COUNTERS.pendingInvitations), 0);
        tx.add(keys.usage(tenantId, USAGE_COUNTERS.busCredentialsMinted), 0);
        tx.add(keys.userCounter(input.userId, USER_COUNTERS.activeTenants), 1);
        tx.add(keys.userCounter(input.userId, USER_COUNTERS.createdOfDay(day)), 1);
        result = { statusCode: 201, body: { tenant: { ...tenantView(tenant), role: "owner" } }, replayed: false };
      }
    }
    if (input.idempotencyKey !== undefined) {
      const record: IdempotencyRecord = { fingerprint: fp, statusCode: result.statusCode, body: result.body, createdAt: this.iso() };
      setJson(tx, keys.idempotency(input.userId, input.idempotencyKey), record);
    }
    return result;
  }

  /**
   * The tenant if the caller is a member whose role may perform `action`: the one not-found
   * answer when the tenant is missing, offboarded or not the caller's; 403 naming the role needed
   * when the caller's role is too weak.
   */
  async authorize(userId: string, tenantId: string, action: TenantAction): Promise<{ tenant: TenantRecord; member: MemberRecord }> {
    return this.store.transact((tx) => memberFor(tx, tenantId, userId, action));
  }

  /** Tenants the user is a member of (active ones), with the user's role, at most `limit`. */
  async tenantsOf(userId: string, limit = 100): Promise<MembershipView[]> {
    return this.store.transact(async (tx) => {
      const rows = await tx.getRange(keys.userTenants(userId), { limit });
      const out: MembershipView[] = [];
      for (const row of rows) {
        const tid = row.key[2] as string;
        const t = await getJson<TenantRecord>(tx, keys.meta(tid));
        const role = (JSON.parse(row.value.toString("utf8")) as { role: TenantRole }).role;
        if (t && t.status === "active") out.push({ ...tenantView(t), role });
      }
      return out;
    });
  }

  async members(tenantId: string, limit = 1000): Promise<MemberRecord[]> {
    return this.store.transact(async (tx) => (await tx.getRange(keys.members(tenantId), { limit })).map((r) => JSON.parse(r.value.toString("utf8")) as MemberRecord));
  }

  /**
   * Changes a member's role. Owners and admins manage people; only an owner grants, changes or
   * takes away the owner role; the last owner is never demoted. Realm-role effects follow the
   * change (granted on becoming owner/admin, revoked when the user administers no tenant).
   */
  async setRole(tenantId: string, actorId: string, targetId: string, role: TenantRole): Promise<MemberRecord> {
    let enqueued = false;
    const out = await this.store.transact(async (tx) => {
      enqueued = false;
      const { tenant, actor, target } = await this.memberPair(tx, tenantId, actorId, targetId, "members.manage");
      if (target.role === role) return target;
      if ((target.role === "owner" || role === "owner") && actor.role !== "owner") throw forbidden("only an owner grants, changes or takes away the owner role");
      if (target.role === "owner" && (await getCounter(tx, keys.usage(tenantId, USAGE_COUNTERS.owners))) <= 1) {
        throw conflict("this is the tenant's last owner: make another member owner first", "body.role");
      }
      const next: MemberRecord = { ...target, role };
      setJson(tx, keys.member(tenantId, targetId), next);
      setJson(tx, keys.userTenant(targetId, tenantId), { role });
      if (target.role === "owner") tx.add(keys.usage(tenantId, USAGE_COUNTERS.owners), -1);
      if (role === "owner") tx.add(keys.usage(tenantId, USAGE_COUNTERS.owners), 1);
      const wasAdmin = roleAtLeast(target.role, "admin");
      const isAdmin = roleAtLeast(role, "admin");
      if (wasAdmin !== isAdmin) {
        setJson(tx, keys.meta(tenantId), this.enqueue(tx, tenant, [{ kind: isAdmin ? "keycloak.grant-admin" : "keycloak.revoke-admin", payload: { userIds: [targetId] } }]));
        enqueued = true;
      }
      return next;
    });
    if (enqueued) this.onEnqueued();
    return out;
  }

  /**
   * Removes a member: the member themself (leaving, any role), or an owner or admin removing
   * someone else (an owner only by an owner). The last owner can neither leave nor be removed.
   */
  async removeMember(tenantId: string, actorId: string, targetId: string): Promise<void> {
    let enqueued = false;
    await this.store.transact(async (tx) => {
      enqueued = false;
      const leaving = actorId === targetId;
      const { tenant, actor, target } = await this.memberPair(tx, tenantId, actorId, targetId, leaving ? "members.leave" : "members.manage");
      if (!leaving && target.role === "owner" && actor.role !== "owner") throw forbidden("only an owner removes an owner");
      if (target.role === "owner" && (await getCounter(tx, keys.usage(tenantId, USAGE_COUNTERS.owners))) <= 1) {
        throw conflict(leaving ? "you are the tenant's last owner: make another member owner first, or offboard the tenant" : "this is the tenant's last owner: make another member owner first", "params.userId");
      }
      tx.clear(keys.member(tenantId, targetId));
      tx.clear(keys.userTenant(targetId, tenantId));
      tx.add(keys.usage(tenantId, USAGE_COUNTERS.members), -1);
      if (target.role === "owner") tx.add(keys.usage(tenantId, USAGE_COUNTERS.owners), -1);
      if (roleAtLeast(target.role, "admin")) {
        setJson(tx, keys.meta(tenantId), this.enqueue(tx, tenant, [{ kind: "keycloak.revoke-admin", payload: { userIds: [targetId] } }]));
        enqueued = true;
      }
    });
    if (enqueued) this.onEnqueued();
  }

  /** The tenant, the acting member (allowed `action`) and the target member, in `tx`. */
  private async memberPair(tx: KvTransaction, tenantId: string, actorId: string, targetId: string, action: TenantAction): Promise<{ tenant: TenantRecord; actor: MemberRecord; target: MemberRecord }> {
    const [{ tenant, member: actor }, target] = await Promise.all([memberFor(tx, tenantId, actorId, action), getJson<MemberRecord>(tx, keys.member(tenantId, targetId))]);
    if (!target) throw notFound("member");
    return { tenant, actor, target };
  }

  /** The tier's limits, from the catalog (never stored). */
  limitsOf(tier: PlanTierName): PlanTier {
    return this.catalog[tier];
  }

  async usage(tenantId: string): Promise<Record<string, number>> {
    return this.store.transact(async (tx) => {
      const out: Record<string, number> = {};
      for (const r of await tx.getRange(keys.usages(tenantId))) {
        out[r.key[3] as string] = r.value.length === 8 ? Number(r.value.readBigInt64LE()) : 0;
      }
      return out;
    });
  }

  async counter(tenantId: string, name: string): Promise<number> {
    return this.store.transact((tx) => getCounter(tx, keys.usage(tenantId, name)));
  }

  /**
   * Records a minted credential if the tenant is still active, the caller still a member allowed
   * to mint, and the tier's credentials of the UTC day not used up; throws the answer otherwise
   * (the credential is then never handed out). Idempotent: a re-run finds the record and does not
   * count twice.
   */
  async recordCredential(tenantId: string, cred: CredentialRecord): Promise<void> {
    await this.store.transact(async (tx) => {
      const day = utcDay(cred.issuedAt * 1000);
      const [{ tenant }, existing, today] = await Promise.all([
        memberFor(tx, tenantId, cred.userId, "credentials.mint"),
        tx.get(keys.credential(tenantId, cred.publicKey)),
        getCounter(tx, keys.usage(tenantId, credentialsOfDay(day))),
      ]);
      if (existing) return;
      const allowance = this.catalog[tenant.planTier].bus.credentialsPerDay;
      if (today >= allowance) throw tooMany("credential_limit", `the tenant minted ${today} bus credentials today (UTC), the ${tenant.planTier} tier's allowance: reuse a credential until it expires, or try again tomorrow`);
      setJson(tx, keys.credential(tenantId, cred.publicKey), cred);
      tx.add(keys.usage(tenantId, USAGE_COUNTERS.busCredentialsMinted), 1);
      tx.add(keys.usage(tenantId, credentialsOfDay(day)), 1);
    });
  }

  /**
   * Revokes one bus credential of an active tenant: its minter or a tenant admin may. The record
   * moves to the tenant's revocations and a push of the tenant's account JWT is queued, which
   * lists the key: the servers close its connections and refuse it. Idempotent: revoking again
   * answers the first revocation; an unknown key, or one the caller may not revoke, is not found.
   */
  async revokeCredential(tenantId: string, userId: string, publicKey: string): Promise<RevocationRecord> {
    let enqueued = false;
    const record = await this.store.transact(async (tx) => {
      enqueued = false;
      const [{ tenant, member }, cred, done] = await Promise.all([
        memberFor(tx, tenantId, userId, "credentials.mint"),
        getJson<CredentialRecord>(tx, keys.credential(tenantId, publicKey)),
        getJson<RevocationRecord>(tx, keys.tenantRevocation(tenantId, publicKey)),
      ]);
      if (done) return done; // a re-run after commit_unknown_result, or a second revocation
      const asAdmin = roleAtLeast(member.role, TENANT_ACTIONS["credentials.revoke-any"].minRole);
      if (!cred || (!asAdmin && cred.userId !== userId)) throw credentialNotFound();
      const rec: RevocationRecord = { publicKey, tenantId, revokedAt: Math.floor(this.now() / 1000), expiresAt: cred.expiresAt };
      setJson(tx, keys.tenantRevocation(tenantId, publicKey), rec);
      setJson(tx, keys.revoked(publicKey), rec);
      tx.clear(keys.credential(tenantId, publicKey));
      setJson(tx, keys.meta(tenantId), this.enqueue(tx, tenant, [{ kind: "nats.account", payload: {} }]));
      enqueued = true;
      return rec;
    });
    if (enqueued) this.onEnqueued();
    return record;
  }

  /**
   * Sets the plan tier through the entitlement path (a billing delivery or an operator), pushes
   * the tenant's account JWT with the new tier's limits and writes its plan row to the event store. A billing event older than the
   * one that set the current tier changes nothing (deliveries may arrive out of order).
   * Idempotent: the same tier is a no-op.
   */
  async changePlan(tenantId: string, tier: PlanTierName, source: Exclude<EntitlementSource, { kind: "default" }>): Promise<TenantView> {
    let enqueued = false;
    const { view } = await this.store.transact(async (tx) => {
      enqueued = false;
      return this.changePlanIn(tx, tenantId, tier, source, () => (enqueued = true));
    });
    if (enqueued) this.onEnqueued();
    return view;
  }

  private async changePlanIn(tx: KvTransaction, tenantId: string, tier: PlanTierName, source: Exclude<EntitlementSource, { kind: "default" }>, onEnqueue: () => void): Promise<{ readonly view: TenantView; readonly applied: boolean }> {
    const tenant = await getJson<TenantRecord>(tx, keys.meta(tenantId));
    if (!tenant || tenant.status !== "active") throw tenantNotFound();
    const last = tenant.entitlement;
    if (source.kind === "billing" && last?.kind === "billing" && last.created > source.created) return { view: tenantView(tenant), applied: false };
    if (tenant.planTier === tier) {
      const next: TenantRecord = { ...tenant, entitlement: source };
      setJson(tx, keys.meta(tenantId), next);
      return { view: tenantView(next), applied: true };
    }
    let next: TenantRecord = { ...tenant, planTier: tier, entitlement: source, updatedAt: this.iso() };
    next = this.enqueue(tx, next, [
      { kind: "nats.account", payload: {} },
      { kind: "events.plan", payload: {} },
    ]);
    setJson(tx, keys.meta(tenantId), next);
    onEnqueue();
    return { view: tenantView(next), applied: true };
  }

  /**
   * Applies one billing delivery exactly once: the first answer for its event id is stored with
   * the change in one transaction and returned to every repeat of that id.
   */
  async applyBillingEvent(event: { id: string; created: number; tenantId: string; planTier: PlanTierName }): Promise<Answer> {
    let enqueued = false;
    const answer = await this.store.transact(async (tx): Promise<Answer> => {
      enqueued = false;
      const prior = await getJson<BillingEventRecord>(tx, keys.billingEvent(event.id));
      if (prior) return { statusCode: prior.statusCode, body: prior.body, replayed: true };
      let result: Answer;
      try {
        const { view, applied } = await this.changePlanIn(tx, event.tenantId, event.planTier, { kind: "billing", eventId: event.id, created: event.created, at: this.iso() }, () => (enqueued = true));
        result = { statusCode: 200, body: { eventId: event.id, tenantId: event.tenantId, planTier: view.planTier, applied }, replayed: false };
      } catch (error) {
        if (!(error instanceof ApiError) || error.statusCode !== 404) throw error;
        // An unknown or offboarded tenant: recorded, so the provider stops retrying the same event.
        result = { statusCode: 200, body: { eventId: event.id, tenantId: event.tenantId, applied: false, reason: "tenant not found or offboarded" }, replayed: false };
      }
      const record: BillingEventRecord = { eventId: event.id, tenantId: event.tenantId, statusCode: result.statusCode, body: result.body, at: this.iso() };
      setJson(tx, keys.billingEvent(event.id), record);
      return result;
    });
    if (enqueued) this.onEnqueued();
    return answer;
  }

  /**
   * Offboards a tenant in one bounded transaction: status `offboarded` (minting and tokens refuse
   * from now on), the wrapped data key cleared (crypto-shredding: no copy of the key remains), the
   * creator's active-tenant count freed, and the effects queued: push the tenant's offboarded
   * account JWT (every user revoked, no connection, no import: the servers close its
   * connections), record the minted credentials as revoked, revoke the realm role of owners and
   * admins who administer nothing else, write the plan row that says offboarded and then delete
   * the tenant's history (its messages in the shared streams, its event and usage rows: `history`
   * goes from `deleting` to `deleted` once none is left), purge memberships and invitations. The
   * slug record stays.
   */
  async offboard(tenantId: string): Promise<TenantView> {
    let enqueued = false;
    const view = await this.store.transact(async (tx) => {
      enqueued = false;
      const tenant = await getJson<TenantRecord>(tx, keys.meta(tenantId));
      if (!tenant) throw tenantNotFound();
      if (tenant.status === "offboarded") return tenantView(tenant); // a re-run after commit_unknown_result
      const admins = (await tx.getRange(keys.members(tenantId), { limit: 1000 }))
        .map((r) => JSON.parse(r.value.toString("utf8")) as MemberRecord)
        .filter((m) => roleAtLeast(m.role, "admin"))
        .map((m) => m.userId);
      tx.clear(keys.dataKey(tenantId));
      tx.add(keys.userCounter(tenant.createdBy, USER_COUNTERS.activeTenants), -1);
      let next: TenantRecord = { ...tenant, status: "offboarded", dataKey: "destroyed", offboardedAt: this.iso(), updatedAt: this.iso(), history: "deleting" };
      next = this.enqueue(tx, next, [
        { kind: "nats.account", payload: {} },
        { kind: "nats.revoke", payload: {} },
        { kind: "keycloak.revoke-admin", payload: { userIds: admins } },
        { kind: "events.plan", payload: {} },
        { kind: "events.delete", payload: {} },
        { kind: "tenant.purge", payload: {} },
      ]);
      setJson(tx, keys.meta(tenantId), next);
      enqueued = true;
      return tenantView(next);
    });
    if (enqueued) this.onEnqueued();
    return view;
  }

  /**
   * Revoked bus credentials that have not expired yet: user public key → revocation time
   * (seconds), for audit. The servers learn of them from the tenants' account JWTs.
   */
  async revocations(nowSeconds = Math.floor(this.now() / 1000)): Promise<Record<string, number>> {
    return this.store.transact(async (tx) => {
      const out: Record<string, number> = {};
      for (const r of await tx.getRange(keys.revokedAll())) {
        const rec = JSON.parse(r.value.toString("utf8")) as RevocationRecord;
        if (rec.expiresAt > nowSeconds) out[rec.publicKey] = rec.revokedAt;
      }
      return out;
    });
  }

  /** The tenant setting of payload encryption (an admin's action). */
  async setPayloadEncryption(tenantId: string, userId: string, on: boolean): Promise<TenantView> {
    return this.store.transact(async (tx) => {
      const { tenant } = await memberFor(tx, tenantId, userId, "tenant.settings");
      if (tenant.payloadEncryption === on) return tenantView(tenant);
      const next: TenantRecord = { ...tenant, payloadEncryption: on, updatedAt: this.iso() };
      setJson(tx, keys.meta(tenantId), next);
      return tenantView(next);
    });
  }

  /** One read for an agent request: its tenant, its credential's revocation, the tenant's wrapped data key. */
  async agentLookup(tenantId: string, publicKey: string): Promise<AgentLookup> {
    return this.store.transact(async (tx) => {
      const [tenant, revoked, wrapped] = await Promise.all([getJson<TenantRecord>(tx, keys.meta(tenantId)), getJson<RevocationRecord>(tx, keys.revoked(publicKey)), getJson<WrappedDataKey>(tx, keys.dataKey(tenantId))]);
      return { tenant, revoked, wrapped };
    });
  }

  /** Raw reads for tests and the worker. */
  /**
   * Queues `events.plan` for every tenant whose plan row the event store never received (tenants
   * created before plan rows existed): without one, the ingestor would judge a pro or enterprise
   * tenant by the default tier's allowance and retention. Walks the slug index (one row per tenant
   * ever created) in bounded pages, one short transaction per tenant; idempotent, and safe on
   * several replicas at once (a tenant whose row is written, or whose events lane already holds
   * an `events.plan`, is skipped; a duplicate would only write the same row again).
   */
  async backfillPlans(o: { readonly batch?: number; readonly once?: boolean } = {}): Promise<{ readonly tenants: number; readonly queued: number; readonly skipped?: true }> {
    // Every tenant created since the first completed pass queued its row at creation: the start of
    // each replica need not walk a million tenants again.
    const marker = keys.completedPass("plan-rows");
    if (o.once && (await this.store.transact((tx) => tx.get(marker))) !== undefined) return { tenants: 0, queued: 0, skipped: true };
    const batch = o.batch ?? 200;
    let after: Tuple | undefined;
    let tenants = 0;
    let queued = 0;
    for (;;) {
      const page = await this.store.transact((tx) => tx.getRange(["slug"], { limit: batch, ...(after ? { after } : {}) }));
      for (const row of page) {
        const tenantId = (JSON.parse(row.value.toString("utf8")) as { tenantId?: unknown }).tenantId;
        if (typeof tenantId !== "string") continue;
        tenants++;
        const enqueued = await this.store.transact(async (tx) => {
          const t = await getJson<TenantRecord>(tx, keys.meta(tenantId));
          if (!t || t.planRowAt !== undefined) return false;
          for (const pending of await tx.getRange(keys.lane(tenantId, EFFECT_LANES["events.plan"]))) {
            const entry = await getJson<OutboxEntry>(tx, keys.outboxEntry(Number(pending.key[4]), tenantId, EFFECT_LANES["events.plan"]));
            if (entry?.kind === "events.plan") return false;
          }
          setJson(tx, keys.meta(tenantId), this.enqueue(tx, t, [{ kind: "events.plan", payload: {} }]));
          return true;
        });
        if (enqueued) queued++;
      }
      if (page.length < batch) break;
      after = page[page.length - 1]!.key;
    }
    if (queued > 0) this.onEnqueued();
    await this.store.transact(async (tx) => setJson(tx, marker, { completedAt: this.iso(), tenants, queued }));
    return { tenants, queued };
  }

  async tenant(tenantId: string): Promise<TenantRecord | undefined> {
    return this.store.transact((tx) => getJson<TenantRecord>(tx, keys.meta(tenantId)));
  }

  async wrappedKey(tenantId: string): Promise<WrappedDataKey | undefined> {
    return this.store.transact((tx) => getJson<WrappedDataKey>(tx, keys.dataKey(tenantId)));
  }
}
