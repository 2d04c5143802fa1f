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
 * | `("t", tid, "m", userId)` | {@link MemberRecord} (role `admin` or `member`) |
 * | `("t", tid, "usage", name)` | atomic 64-bit counter |
 * | `("t", tid, "key")` | {@link WrappedDataKey}: only the wrapped key; cleared at offboarding (crypto-shredding) |
 * | `("t", tid, "cred", userPublicKey)` | {@link CredentialRecord} of every minted bus credential |
 * | `("t", tid, "rev", userPublicKey)` | {@link RevocationRecord} of a credential revoked while the tenant is active (its account JWT lists it until it expires) |
 * | `("t", tid, "ol", lane, n)` | per-tenant lane index of pending outbox entries (order of effects) |
 * | `("u", userId, tid)` | the user's memberships ("my tenants") |
 * | `("slug", slug)` | owner of a slug: reserved forever, also after offboarding |
 * | `("o", n, tid, lane)` | {@link OutboxEntry}: a side effect to apply, in commit order |
 * | `("idem", userId, key)` | {@link IdempotencyRecord}: the first answer to an `Idempotency-Key` |
 * | `("revoked", userPublicKey)` | revoked bus credentials (until they expire) |
 * | `("evdel", tid)` | queued deletion of the tenant's event rows (SQL for the event-store job) |
 *
 * Limits are never stored: they derive from the tenant's plan tier and the catalog in `config/`.
 *
 * Every transaction function here is idempotent under re-execution after a commit whose result
 * was unknown (see store/kv.ts): it first reads what its own earlier attempt would have written.
 */
import { createHash, randomBytes } from "node:crypto";
import { FastKeyPair, NKEY_PREFIX } from "./fast-nkeys.js";
import type { PlanTier, PlanTierName, TierCatalog } from "../../../config/tiers.js";
import { ApiError, conflict, tenantNotFound } from "./errors.js";

/** A credential that is not the caller's, unknown or already revoked: one answer for all. */
const credentialNotFound = (): ApiError => new ApiError(404, "not_found", "credential not found");
import { getCounter, getJson, setJson, type KvStore, type KvTransaction } from "./store/kv.js";

export type TenantStatus = "active" | "offboarded";
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
  readonly organization: EffectState;
  readonly keycloakOrganizationId?: string;
  readonly dataKey: EffectState;
  /** The public key (`A…`) of the tenant's NATS account, made with the tenant; its seed is never kept. */
  readonly busAccount: string;
  /** Whether the tenant's account JWT reached the NATS resolver: `ready`, `removed` (offboarded), `skipped` (no NATS configured). */
  readonly bus: EffectState;
  readonly offboardedAt?: string;
  /** Last outbox sequence number used for this tenant (effects of a tenant are ordered by it). */
  readonly effectClock: number;
}

export interface MemberRecord {
  readonly userId: string;
  readonly role: "admin" | "member";
  readonly addedAt: string;
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

export const EFFECT_KINDS = ["datakey.create", "keycloak.provision", "keycloak.plan", "keycloak.deprovision", "nats.account", "nats.revoke", "tenant.purge", "events.delete"] as const;
export type EffectKind = (typeof EFFECT_KINDS)[number];

/** Effects of one tenant in one lane apply in commit order; lanes are independent (a Keycloak outage does not hold up revocation). */
export const EFFECT_LANES: Readonly<Record<EffectKind, string>> = {
  "datakey.create": "datakey",
  "keycloak.provision": "keycloak",
  "keycloak.plan": "keycloak",
  "keycloak.deprovision": "keycloak",
  // Every push of the tenant's account JWT renders the record as it is then: the last one wins.
  "nats.account": "nats",
  "nats.revoke": "tenant",
  "tenant.purge": "tenant",
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
const TENANT_VIEW_FIELDS = ["id", "slug", "name", "planTier", "status", "createdAt", "organization", "dataKey", "busAccount", "bus"] as const satisfies readonly (keyof TenantRecord)[];

/** What a caller sees of a tenant. */
export type TenantView = Pick<TenantRecord, (typeof TENANT_VIEW_FIELDS)[number]>;

export function tenantView(t: TenantRecord): TenantView {
  return Object.fromEntries(TENANT_VIEW_FIELDS.map((f) => [f, t[f]])) as TenantView;
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
  userTenant: (uid: string, tid: string) => ["u", uid, tid],
  userTenants: (uid: string) => ["u", uid],
  slug: (slug: string) => ["slug", slug],
  outbox: () => ["o"],
  outboxEntry: (seq: number, tid: string, lane: string) => ["o", seq, tid, lane],
  idempotency: (uid: string, key: string) => ["idem", uid, key],
  revoked: (pk: string) => ["revoked", pk],
  revokedAll: () => ["revoked"],
  eventDeletion: (tid: string) => ["evdel", tid],
  eventDeletions: () => ["evdel"],
} as const;

export const USAGE_COUNTERS = { members: "members", busCredentialsMinted: "bus_credentials_minted" } as const;

export interface CreateTenantInput {
  readonly userId: string;
  readonly name: string;
  readonly slug: string;
  readonly planTier: PlanTierName;
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

function fingerprint(input: CreateTenantInput): string {
  return createHash("sha256").update(JSON.stringify([input.name, input.slug, input.planTier])).digest("base64url");
}

export interface ControlPlaneOptions {
  readonly store: KvStore;
  readonly catalog: TierCatalog;
  readonly now?: () => number;
  /** Called after a transaction that enqueued effects commits (wakes the outbox worker). */
  readonly onEnqueued?: () => void;
}

export class ControlPlane {
  readonly store: KvStore;
  readonly catalog: TierCatalog;
  private readonly now: () => number;
  private readonly onEnqueued: () => void;

  constructor(options: ControlPlaneOptions) {
    this.store = options.store;
    this.catalog = options.catalog;
    this.now = options.now ?? Date.now;
    this.onEnqueued = options.onEnqueued ?? (() => undefined);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }

  /** Appends an effect to the outbox in `tx` (the caller's transaction) and bumps the tenant's clock. */
  private enqueue(tx: KvTransaction, tenant: TenantRecord, effects: readonly { kind: EffectKind; payload: Record<string, unknown> }[]): TenantRecord {
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
   * Creates a tenant for `input.userId` with its membership, slug reservation, usage counters and
   * outbox entries (data key, Keycloak Organization) in ONE transaction. With an Idempotency-Key
   * the first answer is stored in the same transaction and returned to every repeat.
   */
  async createTenant(input: CreateTenantInput): Promise<Answer> {
    const fp = fingerprint(input);
    const tenantId = newTenantId();
    // The tenant's NATS account: only its public key is kept (its JWT is signed by the operator's key).
    const busAccount = FastKeyPair.create(NKEY_PREFIX.account).getPublicKey();
    const answer = await this.store.transact(async (tx): Promise<Answer> => {
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
      if (owner && owner.requestId === input.requestId) {
        // This very request committed in an earlier attempt (commit_unknown_result): same answer.
        const t = await getJson<TenantRecord>(tx, keys.meta(owner.tenantId));
        return { statusCode: 201, body: { tenant: t ? tenantView(t) : undefined }, replayed: false };
      } else if (owner) {
        result = { statusCode: 409, body: conflict("this slug is taken (slugs stay reserved forever)", "body.slug").body(), replayed: false };
      } else {
        const at = this.iso();
        let tenant: TenantRecord = {
          id: tenantId,
          slug: input.slug,
          name: input.name,
          planTier: input.planTier,
          status: "active",
          createdAt: at,
          createdBy: input.userId,
          requestId: input.requestId,
          updatedAt: at,
          organization: "pending",
          dataKey: "pending",
          busAccount,
          bus: "pending",
          effectClock: 0,
        };
        tenant = this.enqueue(tx, tenant, [
          { kind: "nats.account", payload: {} },
          { kind: "datakey.create", payload: {} },
          { kind: "keycloak.provision", payload: { slug: input.slug, name: input.name, planTier: input.planTier, userId: input.userId } },
        ]);
        setJson(tx, keys.meta(tenantId), tenant);
        setJson(tx, keys.slug(input.slug), { tenantId, requestId: input.requestId });
        const member: MemberRecord = { userId: input.userId, role: "admin", addedAt: at };
        setJson(tx, keys.member(tenantId, input.userId), member);
        setJson(tx, keys.userTenant(input.userId, tenantId), { role: "admin" });
        tx.add(keys.usage(tenantId, USAGE_COUNTERS.members), 1);
        tx.add(keys.usage(tenantId, USAGE_COUNTERS.busCredentialsMinted), 0);
        result = { statusCode: 201, body: { tenant: tenantView(tenant) }, replayed: false };
      }
      if (input.idempotencyKey !== undefined) {
        const record: IdempotencyRecord = { fingerprint: fp, statusCode: result.statusCode, body: result.body, createdAt: this.iso() };
        setJson(tx, keys.idempotency(input.userId, input.idempotencyKey), record);
      }
      return result;
    });
    if (answer.statusCode === 201 && !answer.replayed) this.onEnqueued();
    return answer;
  }

  /** The tenant and the caller's membership, or undefined when it is missing, offboarded or not the caller's. */
  async access(userId: string, tenantId: string): Promise<{ tenant: TenantRecord; member: MemberRecord | undefined } | undefined> {
    return this.store.transact(async (tx) => {
      const [tenant, member] = await Promise.all([getJson<TenantRecord>(tx, keys.meta(tenantId)), getJson<MemberRecord>(tx, keys.member(tenantId, userId))]);
      if (!tenant || tenant.status !== "active") return undefined;
      return { tenant, member };
    });
  }

  /** Tenants the user is a member of (active ones), at most `limit`. */
  async tenantsOf(userId: string, limit = 100): Promise<TenantView[]> {
    return this.store.transact(async (tx) => {
      const rows = await tx.getRange(keys.userTenants(userId), { limit });
      const out: TenantView[] = [];
      for (const row of rows) {
        const tid = row.key[2] as string;
        const t = await getJson<TenantRecord>(tx, keys.meta(tid));
        if (t && t.status === "active") out.push(tenantView(t));
      }
      return out;
    });
  }

  async members(tenantId: string, limit = 1000): Promise<MemberRecord[]> {
    return this.store.transact(async (tx) => (await tx.getRange(keys.members(tenantId), { limit })).map((r) => JSON.parse(r.value.toString("utf8")) as MemberRecord));
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
   * Records a minted credential if the tenant is still active and the caller still a member;
   * throws the not-found answer otherwise (the credential is then never handed out). Idempotent:
   * a re-run finds the record and does not count twice.
   */
  async recordCredential(tenantId: string, cred: CredentialRecord): Promise<void> {
    await this.store.transact(async (tx) => {
      const [tenant, member, existing] = await Promise.all([
        getJson<TenantRecord>(tx, keys.meta(tenantId)),
        tx.get(keys.member(tenantId, cred.userId)),
        tx.get(keys.credential(tenantId, cred.publicKey)),
      ]);
      if (!tenant || tenant.status !== "active" || !member) throw tenantNotFound();
      if (existing) return;
      setJson(tx, keys.credential(tenantId, cred.publicKey), cred);
      tx.add(keys.usage(tenantId, USAGE_COUNTERS.busCredentialsMinted), 1);
    });
  }

  /**
   * Revokes one bus credential of an active tenant: its minter or a tenant admin may. The record
   * moves to the tenant's revocations and a push of the tenant's account JWT is queued, which
   * lists the key: the servers close its connections and refuse it. Idempotent: revoking again
   * answers the first revocation; an unknown key, or one the caller may not revoke, is not found.
   */
  async revokeCredential(tenantId: string, userId: string, publicKey: string, asAdmin: boolean): Promise<RevocationRecord> {
    let enqueued = false;
    const record = await this.store.transact(async (tx) => {
      enqueued = false;
      const [tenant, cred, done] = await Promise.all([
        getJson<TenantRecord>(tx, keys.meta(tenantId)),
        getJson<CredentialRecord>(tx, keys.credential(tenantId, publicKey)),
        getJson<RevocationRecord>(tx, keys.tenantRevocation(tenantId, publicKey)),
      ]);
      if (!tenant || tenant.status !== "active") throw tenantNotFound();
      if (done) return done; // a re-run after commit_unknown_result
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

  /** Changes the plan tier and queues the Keycloak attribute update. Idempotent (same tier = no-op). */
  async changePlan(tenantId: string, tier: PlanTierName): Promise<TenantView> {
    let enqueued = false;
    const view = await this.store.transact(async (tx) => {
      enqueued = false;
      const tenant = await getJson<TenantRecord>(tx, keys.meta(tenantId));
      if (!tenant || tenant.status !== "active") throw tenantNotFound();
      if (tenant.planTier === tier) return tenantView(tenant);
      const memberIds = (await tx.getRange(keys.members(tenantId), { limit: 1000 })).map((r) => r.key[3] as string);
      let next: TenantRecord = { ...tenant, planTier: tier, updatedAt: this.iso() };
      next = this.enqueue(tx, next, [
        { kind: "nats.account", payload: {} },
        { kind: "keycloak.plan", payload: { slug: tenant.slug, planTier: tier, memberIds } },
      ]);
      setJson(tx, keys.meta(tenantId), next);
      enqueued = true;
      return tenantView(next);
    });
    if (enqueued) this.onEnqueued();
    return view;
  }

  /**
   * Offboards a tenant in one bounded transaction: status `offboarded` (minting refuses from now
   * on), the wrapped data key cleared (crypto-shredding: no copy of the key remains), and the
   * effects queued: push the tenant's offboarded account JWT (every user revoked, no connection,
   * no import: the servers close its connections), record the minted credentials as revoked, remove the Keycloak Organization and the members'
   * tenant attributes, queue the event rows' deletion, purge memberships. The slug record stays.
   */
  async offboard(tenantId: string): Promise<TenantView> {
    let enqueued = false;
    const view = await this.store.transact(async (tx) => {
      enqueued = false;
      const tenant = await getJson<TenantRecord>(tx, keys.meta(tenantId));
      if (!tenant) throw tenantNotFound();
      if (tenant.status === "offboarded") return tenantView(tenant); // a re-run after commit_unknown_result
      const memberIds = (await tx.getRange(keys.members(tenantId), { limit: 1000 })).map((r) => r.key[3] as string);
      tx.clear(keys.dataKey(tenantId));
      let next: TenantRecord = { ...tenant, status: "offboarded", dataKey: "destroyed", offboardedAt: this.iso(), updatedAt: this.iso() };
      next = this.enqueue(tx, next, [
        { kind: "nats.account", payload: {} },
        { kind: "nats.revoke", payload: {} },
        { kind: "keycloak.deprovision", payload: { slug: tenant.slug, organizationId: tenant.keycloakOrganizationId ?? null, memberIds } },
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

  /** Raw reads for tests and the worker. */
  async tenant(tenantId: string): Promise<TenantRecord | undefined> {
    return this.store.transact((tx) => getJson<TenantRecord>(tx, keys.meta(tenantId)));
  }

  async wrappedKey(tenantId: string): Promise<WrappedDataKey | undefined> {
    return this.store.transact((tx) => getJson<WrappedDataKey>(tx, keys.dataKey(tenantId)));
  }
}
