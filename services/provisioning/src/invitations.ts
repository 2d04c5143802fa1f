/**
 * Invitations: an owner or admin invites an e-mail address into a tenant with a role; the
 * invitation is a single-use, expiring secret. The store keeps only the secret's SHA-256 (the
 * secret is HMAC(invitation key, id), recomputed by the outbox when it sends the e-mail, see
 * platform-keys.ts). The invitee accepts while signed in with that address, verified: either with
 * the secret from the e-mail, or by the invitation's id from their own list of invitations (which
 * only a verified owner of the address sees). Accepting creates the membership and burns the
 * invitation in one transaction.
 */
import { randomBytes } from "node:crypto";
import { roleAtLeast, type TenantRole } from "../../identity/names.js";
import { keys, memberFor, USAGE_COUNTERS, type ControlPlane, type InvitationRecord, type MemberRecord, type TenantRecord } from "./control-plane.js";
import { ApiError, conflict, forbidden, notFound, tooMany } from "./errors.js";
import { secretHash } from "./platform-keys.js";
import { getCounter, getJson, setJson, type KvTransaction } from "./store/kv.js";

/** What an admin sees of an invitation (never the secret or its hash). */
export type InvitationView = Pick<InvitationRecord, "id" | "tenantId" | "email" | "role" | "invitedBy" | "createdAt" | "delivery"> & {
  readonly expiresAt: string;
  readonly status: InvitationRecord["status"] | "expired";
};

/** What the invitee sees in their list. */
export interface MyInvitationView {
  readonly id: string;
  readonly tenantId: string;
  readonly tenantName: string;
  readonly role: TenantRole;
  readonly expiresAt: string;
}

/** The signed-in invitee. */
export interface Invitee {
  readonly userId: string;
  readonly email: string | undefined;
  readonly emailVerified: boolean;
}

const invitationNotFound = (): ApiError => notFound("invitation");

export class Invitations {
  constructor(
    private readonly plane: ControlPlane,
    private readonly o: { readonly ttlSeconds: number; readonly now?: () => number; readonly secretOf: (invitationId: string) => string },
  ) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  view(r: InvitationRecord): InvitationView {
    const status = r.status === "pending" && r.expiresAt <= this.now() ? "expired" : r.status;
    return { id: r.id, tenantId: r.tenantId, email: r.email, role: r.role, invitedBy: r.invitedBy, createdAt: r.createdAt, expiresAt: new Date(r.expiresAt).toISOString(), status, delivery: r.delivery };
  }

  /** Invites `email` with `role`; queues the e-mail. Only an owner invites an owner. */
  async create(tenantId: string, actorId: string, email: string, role: TenantRole): Promise<InvitationView> {
    const address = email.trim().toLowerCase();
    const id = `inv${randomBytes(12).toString("hex")}`;
    const secret = this.o.secretOf(id);
    const record = await this.plane.store.transact(async (tx) => {
      const { tenant, actor } = await this.manager(tx, tenantId, actorId);
      if (role === "owner" && actor.role !== "owner") throw forbidden("only an owner invites an owner");
      const limits = this.plane.catalog[tenant.planTier].members;
      const [pending, members, existing] = await Promise.all([
        getCounter(tx, keys.usage(tenantId, USAGE_COUNTERS.pendingInvitations)),
        getCounter(tx, keys.usage(tenantId, USAGE_COUNTERS.members)),
        tx.getRange([...keys.invitationsByEmail(address), tenantId], { limit: 1 }),
      ]);
      if (existing.length > 0) {
        const prior = await getJson<InvitationRecord>(tx, keys.invitation(tenantId, String(existing[0]!.key[3])));
        if (prior && prior.status === "pending" && prior.expiresAt > this.now()) throw conflict(`${address} already has a pending invitation (${prior.id}): cancel it first to invite again`, "body.email");
      }
      if (pending >= limits.pendingInvitations) throw tooMany("invitation_limit", `the tenant has ${pending} pending invitations, the ${tenant.planTier} tier's limit: cancel some or wait for them to be accepted`);
      if (members + pending >= limits.max) throw tooMany("member_limit", `the tenant has ${members} members and ${pending} pending invitations; the ${tenant.planTier} tier allows ${limits.max} members`);
      const rec: InvitationRecord = {
        id,
        tenantId,
        email: address,
        role,
        invitedBy: actorId,
        createdAt: new Date(this.now()).toISOString(),
        expiresAt: this.now() + this.o.ttlSeconds * 1000,
        secretHash: secretHash(secret),
        status: "pending",
        delivery: "pending",
      };
      setJson(tx, keys.invitation(tenantId, id), rec);
      setJson(tx, keys.invitationSecret(rec.secretHash), { tenantId, invitationId: id });
      tx.set(keys.invitationByEmail(address, tenantId, id), new Uint8Array(0));
      tx.add(keys.usage(tenantId, USAGE_COUNTERS.pendingInvitations), 1);
      setJson(tx, keys.meta(tenantId), this.plane.enqueue(tx, tenant, [{ kind: "mail.invitation", payload: { invitationId: id } }]));
      return rec;
    });
    this.plane.wake();
    return this.view(record);
  }

  async list(tenantId: string, actorId: string, limit = 500): Promise<InvitationView[]> {
    return this.plane.store.transact(async (tx) => {
      await this.manager(tx, tenantId, actorId);
      return (await tx.getRange(keys.invitations(tenantId), { limit })).map((r) => this.view(JSON.parse(r.value.toString("utf8")) as InvitationRecord));
    });
  }

  /** Cancels a pending invitation (its secret stops working at once). Cancelling again is a no-op. */
  async cancel(tenantId: string, actorId: string, invitationId: string): Promise<InvitationView> {
    return this.plane.store.transact(async (tx) => {
      const { actor } = await this.manager(tx, tenantId, actorId);
      const rec = await getJson<InvitationRecord>(tx, keys.invitation(tenantId, invitationId));
      if (!rec) throw invitationNotFound();
      if (rec.role === "owner" && actor.role !== "owner") throw forbidden("only an owner cancels an owner invitation");
      if (rec.status !== "pending") return this.view(rec);
      const next: InvitationRecord = { ...rec, status: "cancelled" };
      this.retire(tx, next);
      return this.view(next);
    });
  }

  /** The caller's pending invitations, by their verified e-mail. */
  async mine(invitee: Invitee, limit = 100): Promise<MyInvitationView[]> {
    const email = this.verifiedEmail(invitee);
    return this.plane.store.transact(async (tx) => {
      const out: MyInvitationView[] = [];
      for (const row of await tx.getRange(keys.invitationsByEmail(email), { limit })) {
        const [tid, id] = [String(row.key[2]), String(row.key[3])];
        const [rec, tenant] = await Promise.all([getJson<InvitationRecord>(tx, keys.invitation(tid, id)), getJson<TenantRecord>(tx, keys.meta(tid))]);
        if (!rec || rec.status !== "pending" || rec.expiresAt <= this.now() || !tenant || tenant.status !== "active") continue;
        out.push({ id, tenantId: tid, tenantName: tenant.name, role: rec.role, expiresAt: new Date(rec.expiresAt).toISOString() });
      }
      return out;
    });
  }

  /**
   * Accepts an invitation by its secret or its id, for the signed-in user whose verified e-mail
   * it was sent to: the membership is created and the invitation burnt in one transaction.
   * Accepting an invitation to a tenant one is already a member of burns it and keeps the role.
   */
  async accept(invitee: Invitee, by: { secret: string } | { invitationId: string; tenantId?: string }): Promise<{ tenantId: string; role: TenantRole; invitationId: string }> {
    const email = this.verifiedEmail(invitee);
    let enqueued = false;
    const out = await this.plane.store.transact(async (tx) => {
      enqueued = false;
      let ref: { tenantId: string; invitationId: string } | undefined;
      if ("secret" in by) ref = await getJson<{ tenantId: string; invitationId: string }>(tx, keys.invitationSecret(secretHash(by.secret)));
      else {
        const rows = await tx.getRange(keys.invitationsByEmail(email), { limit: 1000 });
        const row = rows.find((r) => String(r.key[3]) === by.invitationId);
        if (row) ref = { tenantId: String(row.key[2]), invitationId: by.invitationId };
      }
      if (!ref) throw invitationNotFound();
      const [rec, tenant, existing] = await Promise.all([
        getJson<InvitationRecord>(tx, keys.invitation(ref.tenantId, ref.invitationId)),
        getJson<TenantRecord>(tx, keys.meta(ref.tenantId)),
        getJson<MemberRecord>(tx, keys.member(ref.tenantId, invitee.userId)),
      ]);
      if (rec && rec.status === "accepted" && rec.acceptedBy === invitee.userId) return { tenantId: rec.tenantId, role: existing?.role ?? rec.role, invitationId: rec.id }; // a re-run
      // Another address's invitation answers exactly like a missing one.
      if (!rec || rec.status !== "pending" || rec.email !== email || !tenant || tenant.status !== "active") throw invitationNotFound();
      if (rec.expiresAt <= this.now()) throw new ApiError(410, "expired", "this invitation has expired: ask for a new one");
      const accepted: InvitationRecord = { ...rec, status: "accepted", acceptedBy: invitee.userId, acceptedAt: new Date(this.now()).toISOString() };
      this.retire(tx, accepted);
      if (existing) return { tenantId: rec.tenantId, role: existing.role, invitationId: rec.id };
      const members = await getCounter(tx, keys.usage(rec.tenantId, USAGE_COUNTERS.members));
      const max = this.plane.catalog[tenant.planTier].members.max;
      if (members >= max) throw tooMany("member_limit", `the tenant has ${members} members, the ${tenant.planTier} tier's limit`);
      const member: MemberRecord = { userId: invitee.userId, role: rec.role, addedAt: accepted.acceptedAt!, email, invitationId: rec.id };
      setJson(tx, keys.member(rec.tenantId, invitee.userId), member);
      setJson(tx, keys.userTenant(invitee.userId, rec.tenantId), { role: rec.role });
      tx.add(keys.usage(rec.tenantId, USAGE_COUNTERS.members), 1);
      if (rec.role === "owner") tx.add(keys.usage(rec.tenantId, USAGE_COUNTERS.owners), 1);
      if (roleAtLeast(rec.role, "admin")) {
        setJson(tx, keys.meta(rec.tenantId), this.plane.enqueue(tx, tenant, [{ kind: "keycloak.grant-admin", payload: { userIds: [invitee.userId] } }]));
        enqueued = true;
      }
      return { tenantId: rec.tenantId, role: rec.role, invitationId: rec.id };
    });
    if (enqueued) this.plane.wake();
    return out;
  }

  /** Writes a non-pending invitation and clears what made it usable (its secret and e-mail index). */
  private retire(tx: KvTransaction, rec: InvitationRecord): void {
    setJson(tx, keys.invitation(rec.tenantId, rec.id), rec);
    tx.clear(keys.invitationSecret(rec.secretHash));
    tx.clear(keys.invitationByEmail(rec.email, rec.tenantId, rec.id));
    tx.add(keys.usage(rec.tenantId, USAGE_COUNTERS.pendingInvitations), -1);
  }

  private verifiedEmail(invitee: Invitee): string {
    if (!invitee.email) throw forbidden("your account has no e-mail address");
    if (!invitee.emailVerified) throw forbidden("verify your e-mail address first (Keycloak sent a link when you registered), then sign in again");
    return invitee.email;
  }

  /** The tenant and the acting member, who must manage invitations. */
  private async manager(tx: KvTransaction, tenantId: string, actorId: string): Promise<{ tenant: TenantRecord; actor: MemberRecord }> {
    const { tenant, member } = await memberFor(tx, tenantId, actorId, "invitations.manage");
    return { tenant, actor: member };
  }
}
