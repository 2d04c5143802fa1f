/**
 * The outbox worker: applies the side effects that transactions wrote to the outbox, each
 * exactly once in effect (at least once, and every effect is idempotent).
 *
 * One entry goes through three short transactions: lease (only the head of its tenant's lane,
 * only if no other worker holds a live lease), the external work outside any transaction
 * (Keycloak, KMS), and completion (write the result, remove the entry, only if the lease is still
 * this worker's). A failure records the error and schedules the next attempt with exponential
 * backoff and jitter (capped at {@link OUTBOX_MAX_BACKOFF_MS}); entries are never dropped. Several
 * replicas may run workers on one FoundationDB store: leases keep them apart, and a crashed
 * worker's lease simply expires.
 *
 * The worker never runs on the request path: requests only wake it ({@link OutboxWorker.wake}).
 *
 * The event store's effects (lane `events`): `events.plan` writes the tenant's plan row as the
 * record is when it applies; `events.delete` (queued at offboarding after the plan row that says
 * offboarded) deletes the tenant's history: its messages in `SWARM_EVENTS` and `SWARM_JOBS`
 * (subject-filtered purges through the platform-account connection), then its event and usage
 * rows (as the lifecycle user), then checks that nothing of it is left (no row, and a second
 * purge finds no message) and otherwise fails, so that it runs again with backoff until it holds.
 * Without an event store (or, where tenant accounts are pushed, without the platform-account
 * connection) these effects fail with a `lastError` naming the variable to set; they never
 * succeed without doing their work.
 */
import { randomBytes } from "node:crypto";
import { REALM_ROLES } from "../../keycloak-realm/names.js";
import { INGESTOR_JETSTREAM, INGESTOR_LIMITS } from "../../ingestor/contract.js";
import { PROVISIONING_ENV } from "../contract.js";
import { EFFECT_LANES, keys, type CredentialRecord, type InvitationRecord, type OutboxEntry, type RevocationRecord, type TenantRecord, type WrappedDataKey } from "./control-plane.js";
import type { DataKeyProvider } from "./datakeys.js";
import { tenantPlanRow, type EventStore } from "./event-store.js";
import type { IdentityAdmin } from "./keycloak.js";
import type { Mailer } from "./mail.js";
import type { TenantAccountPublisher } from "./nats.js";
import { getJson, parseJson, setJson, type KvStore, type KvTransaction, type Tuple } from "./store/kv.js";

export const OUTBOX_LEASE_MS = 30_000;
export const OUTBOX_MAX_BACKOFF_MS = 5 * 60_000;
/** Entries per bounded batch of bulk effects (revocation, purge): far below FDB's limits. */
export const OUTBOX_BULK_BATCH = 200;

/** Purges one tenant's messages from the shared streams; answers how many each purge removed. */
export interface TenantStreams {
  purgeTenant(tenantId: string): Promise<{ readonly events: number; readonly jobs: number }>;
}

/** How the worker reaches the tenants' messages in the shared streams. */
export type TenantStreamsAccess =
  /** Through the platform-account connection. */
  | { readonly kind: "bus"; readonly bus: TenantStreams }
  /** No NATS configured (PROVISIONING_NATS_URL unset): no tenant account was ever pushed, so no tenant could publish anything. */
  | { readonly kind: "none" }
  /** Tenant accounts are pushed, but there is no connection to purge with: `events.delete` fails with `problem`. */
  | { readonly kind: "unavailable"; readonly problem: string };

export interface OutboxLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OutboxWorkerOptions {
  readonly store: KvStore;
  readonly identity: IdentityAdmin;
  readonly dataKeys: DataKeyProvider;
  /** Sends invitation e-mails (a disabled mailer records them as skipped). */
  readonly mailer: Mailer;
  /** An invitation's secret from its id (platform-keys.ts): the e-mail carries it, the store never does. */
  readonly invitationSecret: (invitationId: string) => string;
  /** Pushes tenant account JWTs to NATS. @default - none: tenant accounts are not pushed (bus `skipped`) */
  readonly accounts?: TenantAccountPublisher;
  readonly log: OutboxLogger;
  /** Poll interval when idle. @default 500 */
  readonly pollMs?: number;
  /** Entries applied concurrently. @default 16 */
  readonly concurrency?: number;
  /** First retry delay. @default 200 */
  readonly backoffMs?: number;
  readonly now?: () => number;
  readonly onApplied?: (kind: string) => void;
  readonly onFailed?: (kind: string) => void;
  /** The event store: plan rows and offboarded tenants' rows. @default - none: `events.plan` and `events.delete` fail (and are retried) naming PROVISIONING_CLICKHOUSE_URL */
  readonly eventStore?: EventStore;
  /** The tenants' messages in the shared streams (`events.delete` purges them). */
  readonly streams: TenantStreamsAccess;
  /** Wait between an offboarded plan row and the history's deletion. @default HISTORY_DELETION_GRACE_MS */
  readonly historyDeletionGraceMs?: number;
}

/**
 * How long an offboarded tenant's history deletion waits after its `offboarded` plan row is in
 * the event store: the ingestor re-reads a tenant's plan at least every
 * `INGESTOR_LIMITS.tenantCacheTtlMs.max`, and a batch it accepted just before is in its insert
 * for at most about one AckWait (after which JetStream redelivers it to a replica that refuses
 * it). Deleting sooner could let such a batch's rows land after the deletion.
 */
export const HISTORY_DELETION_GRACE_MS = INGESTOR_LIMITS.tenantCacheTtlMs.max + INGESTOR_JETSTREAM.ackWaitMs;

/** An effect that is not due yet: retried at `until`, neither a failure nor counted as one. */
export class EffectNotDue extends Error {
  override readonly name = "EffectNotDue";
  constructor(
    readonly until: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** What the external part of an effect hands to the completion transaction. */
type Completion = (tx: KvTransaction, tenant: TenantRecord | undefined) => Promise<void>;

export class OutboxWorker {
  readonly id = `worker-${randomBytes(6).toString("hex")}`;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private readonly now: () => number;
  /** Entries scanned in the last poll that were ready (a gauge). */
  lastReady = 0;
  applied = 0;
  failures = 0;

  constructor(private readonly o: OutboxWorkerOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the batch in hand. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  get isRunning(): boolean {
    return this.running;
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      let worked = 0;
      try {
        worked = await this.pollOnce();
      } catch (error) {
        this.o.log.error({ err: (error as Error).message }, "outbox poll failed");
      }
      if (worked > 0 || !this.running) continue;
      if (this.woken) {
        this.woken = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.o.pollMs ?? 500);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
      this.woken = false;
    }
  }

  /** One pass: applies the ready heads of every lane found; returns how many it applied or tried. */
  async pollOnce(): Promise<number> {
    const now = this.now();
    const rows = await this.o.store.transact((tx) => tx.getRange(keys.outbox(), { limit: 2_000 }));
    const seen = new Set<string>();
    const ready: OutboxEntry[] = [];
    for (const row of rows) {
      const entry = parseJson<OutboxEntry>(row.value) as OutboxEntry;
      const lane = `${entry.tenantId}/${EFFECT_LANES[entry.kind]}`;
      if (seen.has(lane)) continue; // only the head of a lane
      seen.add(lane);
      if (entry.notBefore > now || (entry.leaseUntil ?? 0) > now) continue;
      ready.push(entry);
    }
    this.lastReady = ready.length;
    const limit = this.o.concurrency ?? 16;
    let next = 0;
    const workers = Array.from({ length: Math.min(limit, ready.length) }, async () => {
      while (next < ready.length && this.running) {
        const entry = ready[next++] as OutboxEntry;
        await this.process(entry);
      }
    });
    await Promise.all(workers);
    return ready.length;
  }

  private entryKey(e: OutboxEntry) {
    return keys.outboxEntry(e.seq, e.tenantId, EFFECT_LANES[e.kind]);
  }

  /** Applies one entry: lease, external work, completion. */
  async process(candidate: OutboxEntry): Promise<void> {
    const now = this.now();
    const lane = EFFECT_LANES[candidate.kind];
    const leased = await this.o.store.transact(async (tx) => {
      const entry = await getJson<OutboxEntry>(tx, this.entryKey(candidate));
      if (!entry) return undefined;
      const head = await tx.getRange(keys.lane(entry.tenantId, lane), { limit: 1 });
      if (head[0] && head[0].key[4] !== entry.seq) return undefined; // an earlier effect of this lane is pending
      if (entry.leaseOwner === this.id && (entry.leaseUntil ?? 0) > now) return entry; // a re-run of this very lease
      if ((entry.leaseUntil ?? 0) > now || entry.notBefore > now) return undefined;
      const next: OutboxEntry = { ...entry, attempts: entry.attempts + 1, leaseOwner: this.id, leaseUntil: now + OUTBOX_LEASE_MS };
      setJson(tx, this.entryKey(entry), next);
      return next;
    });
    if (!leased) return;
    try {
      const complete = await this.external(leased);
      await this.o.store.transact(async (tx) => {
        const entry = await getJson<OutboxEntry>(tx, this.entryKey(leased));
        if (!entry || entry.leaseOwner !== this.id) return; // already completed (re-run) or taken over
        const tenant = await getJson<TenantRecord>(tx, keys.meta(entry.tenantId));
        await complete(tx, tenant);
        tx.clear(this.entryKey(entry));
        tx.clear(keys.laneEntry(entry.tenantId, lane, entry.seq));
      });
      this.applied++;
      this.o.onApplied?.(leased.kind);
    } catch (error) {
      if (error instanceof EffectNotDue) {
        this.o.log.info({ kind: leased.kind, tenantId: leased.tenantId, until: new Date(error.until).toISOString(), reason: error.message }, "outbox effect not due yet");
        // Not an attempt: the lease's count is given back.
        await this.release(leased, { notBefore: error.until, lastError: `waiting: ${error.message}`, attempts: Math.max(0, leased.attempts - 1) }, "deferral");
        return;
      }
      this.failures++;
      this.o.onFailed?.(leased.kind);
      const message = error instanceof Error ? error.message : String(error);
      const delay = Math.min(OUTBOX_MAX_BACKOFF_MS, (this.o.backoffMs ?? 200) * 2 ** Math.min(20, leased.attempts - 1)) * (0.5 + Math.random() / 2);
      this.o.log.warn({ kind: leased.kind, tenantId: leased.tenantId, attempts: leased.attempts, err: message, retryInMs: Math.round(delay) }, "outbox effect failed; will retry");
      await this.release(leased, { notBefore: this.now() + delay, lastError: message }, "failure");
    }
  }

  /** Gives a leased entry back (if this worker still holds it), to run again at `next.notBefore`. */
  private async release(leased: OutboxEntry, next: { notBefore: number; lastError: string; attempts?: number }, what: string): Promise<void> {
    await this.o.store
      .transact(async (tx) => {
        const entry = await getJson<OutboxEntry>(tx, this.entryKey(leased));
        if (!entry || entry.leaseOwner !== this.id) return;
        const { leaseOwner: _o, leaseUntil: _u, ...rest } = entry;
        void _o;
        void _u;
        setJson(tx, this.entryKey(entry), { ...rest, notBefore: next.notBefore, lastError: next.lastError.slice(0, 500), ...(next.attempts === undefined ? {} : { attempts: next.attempts }) });
      })
      .catch((e: unknown) => this.o.log.error({ err: String(e) }, `recording an outbox ${what} failed (the lease expires instead)`));
  }

  /** A tenant's revoked, unexpired credentials: user key → revocation time (seconds). */
  private async tenantRevocations(tid: string): Promise<Record<string, number>> {
    const nowS = Math.floor(this.now() / 1000);
    const rows = await this.o.store.transact((tx) => tx.getRange(keys.tenantRevocations(tid)));
    const out: Record<string, number> = {};
    for (const r of rows) {
      const rec = JSON.parse(r.value.toString("utf8")) as RevocationRecord;
      if (rec.expiresAt > nowS) out[rec.publicKey] = rec.revokedAt;
    }
    return out;
  }

  /** Whether `userId` is an owner or admin of an active tenant (the user's index, in bounded pages). */
  private async administersAny(userId: string): Promise<boolean> {
    let after: Tuple | undefined;
    for (;;) {
      const page = await this.o.store.transact(async (tx) => {
        const rows = await tx.getRange(keys.userTenants(userId), { limit: OUTBOX_BULK_BATCH, ...(after ? { after } : {}) });
        for (const row of rows) {
          const other = row.key[2] as string;
          const role = (JSON.parse(row.value.toString("utf8")) as { role?: string }).role;
          if (role !== "owner" && role !== "admin") continue;
          if ((await getJson<TenantRecord>(tx, keys.meta(other)))?.status === "active") return { found: true, rows };
        }
        return { found: false, rows };
      });
      if (page.found) return true;
      if (page.rows.length < OUTBOX_BULK_BATCH) return false;
      after = page.rows[page.rows.length - 1]!.key;
    }
  }

  /** The event store, or the error that says how to configure one. */
  private eventStore(): EventStore {
    if (this.o.eventStore) return this.o.eventStore;
    throw new Error(`no event store is configured: set ${PROVISIONING_ENV.clickhouseUrl} and ${PROVISIONING_ENV.clickhousePasswordFile} (the ${PROVISIONING_ENV.clickhouseUser} user's password); this effect is retried until then`);
  }

  /**
   * Deletes an offboarded tenant's history: the plan row that says offboarded (again: the row
   * `events.plan` wrote, so an entry queued before that effect existed holds too), the stream
   * purges, the row deletion, then the check. Throws while anything of the tenant is left.
   */
  private async deleteHistory(tenant: TenantRecord): Promise<{ readonly purged: { readonly events: number; readonly jobs: number } | undefined }> {
    const tid = tenant.id;
    const store = this.eventStore();
    const access = this.o.streams;
    if (access.kind === "unavailable") throw new Error(access.problem);
    const streams = access.kind === "bus" ? access.bus : undefined;
    await store.writePlan(tenantPlanRow(tid, tenant.planTier, "offboarded", tenant.effectClock));
    const purged = streams ? await streams.purgeTenant(tid) : undefined;
    await store.deleteTenantRows(tid);
    // The check: no row left, and a second purge finds no message (one that arrived since the
    // first purge, e.g. before the servers closed the tenant's connections, is removed by it and
    // the deletion runs again, so that rows the ingestor made of it meanwhile go too).
    const [left, late] = await Promise.all([store.tenantRowCounts(tid), streams ? streams.purgeTenant(tid) : undefined]);
    const messages = late ? late.events + late.jobs : 0;
    if (left.events > 0 || left.usage > 0 || messages > 0) {
      throw new Error(`tenant ${tid}'s history is not gone yet: ${left.events} event row(s) and ${left.usage} usage row(s) left, ${messages} stream message(s) arrived after the first purge; the deletion runs again`);
    }
    return { purged };
  }

  /** The external part of an effect; returns what the completion transaction writes. */
  private async external(entry: OutboxEntry): Promise<Completion> {
    const tid = entry.tenantId;
    const p = entry.payload as Record<string, unknown>;
    const idm = this.o.identity;
    const tenant = await this.o.store.transact((tx) => getJson<TenantRecord>(tx, keys.meta(tid)));
    switch (entry.kind) {
      case "datakey.create": {
        if (!tenant || tenant.status !== "active") return async () => undefined;
        const existing = await this.o.store.transact((tx) => tx.get(keys.dataKey(tid)));
        const wrapped: WrappedDataKey | undefined = existing ? undefined : await this.o.dataKeys.generate(tid);
        return async (tx, t) => {
          if (!t || t.status !== "active" || !wrapped) return; // offboarded meanwhile: the new key is dropped unstored
          if (await tx.get(keys.dataKey(tid))) return; // a key exists (a re-run): keep the one stored
          setJson(tx, keys.dataKey(tid), wrapped);
          setJson(tx, keys.meta(tid), { ...t, dataKey: "ready" });
        };
      }
      case "keycloak.grant-admin": {
        // The realm role makes OTP required at login; granted to whoever owns or administers a tenant.
        if (!tenant || tenant.status !== "active" || !idm.enabled) return async () => undefined;
        for (const uid of (p.userIds as string[] | undefined) ?? []) {
          if (await this.administersAny(uid)) await idm.grantRealmRole(uid, REALM_ROLES.tenantAdmin);
        }
        return async () => undefined;
      }
      case "keycloak.revoke-admin": {
        // Revoked only when the user administers no active tenant any more (a later grant in any
        // tenant's lane grants it again).
        if (!idm.enabled) return async () => undefined;
        for (const uid of (p.userIds as string[] | undefined) ?? []) {
          if (!(await this.administersAny(uid))) await idm.revokeRealmRole(uid, REALM_ROLES.tenantAdmin);
        }
        return async () => undefined;
      }
      case "mail.invitation": {
        const id = String(p.invitationId);
        const inv = await this.o.store.transact((tx) => getJson<InvitationRecord>(tx, keys.invitation(tid, id)));
        // Cancelled, accepted, expired or the tenant gone before delivery: nothing to send.
        if (!inv || inv.status !== "pending" || inv.expiresAt <= this.now() || !tenant || tenant.status !== "active") return async () => undefined;
        let delivery: InvitationRecord["delivery"] = "skipped";
        if (this.o.mailer.enabled) {
          await this.o.mailer.sendInvitation({ to: inv.email, tenantName: tenant.name, role: inv.role, secret: this.o.invitationSecret(id), expiresAt: new Date(inv.expiresAt).toISOString() });
          delivery = "sent";
        }
        return async (tx) => {
          const now = await getJson<InvitationRecord>(tx, keys.invitation(tid, id));
          if (now) setJson(tx, keys.invitation(tid, id), { ...now, delivery });
        };
      }
      case "nats.account": {
        // The account JWT of the tenant as it is now (tier, status): a re-run or a later push
        // renders the same or newer state, so the last push always carries the current state.
        if (!tenant) return async () => undefined;
        const publisher = this.o.accounts;
        if (publisher) {
          const offboardedAt = tenant.offboardedAt === undefined ? undefined : Math.floor(Date.parse(tenant.offboardedAt) / 1000);
          // Revoked credentials of an active tenant, until they expire (offboarding revokes every user).
          const revocations = offboardedAt === undefined ? await this.tenantRevocations(tid) : {};
          await publisher.publish({ tenantId: tid, tier: tenant.planTier, accountPublicKey: tenant.busAccount, revocations, ...(offboardedAt === undefined ? {} : { offboardedAt }) });
        }
        const state = !publisher ? "skipped" : tenant.status === "active" ? "ready" : "removed";
        return async (tx, t) => {
          if (t && t.status === tenant.status && t.planTier === tenant.planTier) setJson(tx, keys.meta(tid), { ...t, bus: state });
        };
      }
      case "nats.revoke": {
        // Bounded batches: move unexpired credentials to the revocation list, drop expired ones.
        for (;;) {
          const moved = await this.o.store.transact(async (tx) => {
            const rows = await tx.getRange(keys.credentials(tid), { limit: OUTBOX_BULK_BATCH });
            const nowS = Math.floor(this.now() / 1000);
            for (const r of rows) {
              const cred = JSON.parse(r.value.toString("utf8")) as CredentialRecord;
              if (cred.expiresAt > nowS) {
                const rec: RevocationRecord = { publicKey: cred.publicKey, tenantId: tid, revokedAt: nowS, expiresAt: cred.expiresAt };
                setJson(tx, keys.revoked(cred.publicKey), rec);
              }
              tx.clear(keys.credential(tid, cred.publicKey));
            }
            return rows.length;
          });
          if (moved < OUTBOX_BULK_BATCH) break;
        }
        return async () => undefined;
      }
      case "tenant.purge": {
        const membersPrefix = keys.members(tid);
        const invitationsPrefix = keys.invitations(tid);
        for (const prefix of [membersPrefix, invitationsPrefix, keys.usages(tid), keys.credentials(tid), keys.tenantRevocations(tid)]) {
          for (;;) {
            const n = await this.o.store.transact(async (tx) => {
              const rows = await tx.getRange(prefix, { limit: OUTBOX_BULK_BATCH });
              for (const r of rows) {
                tx.clear([...prefix, ...r.key.slice(prefix.length)]);
                if (prefix === membersPrefix) tx.clear(keys.userTenant(String(r.key[3]), tid));
                if (prefix === invitationsPrefix) {
                  const inv = JSON.parse(r.value.toString("utf8")) as InvitationRecord;
                  tx.clear(keys.invitationSecret(inv.secretHash));
                  tx.clear(keys.invitationByEmail(inv.email, tid, inv.id));
                }
              }
              return rows.length;
            });
            if (n < OUTBOX_BULK_BATCH) break;
          }
        }
        return async () => undefined;
      }
      case "events.plan": {
        // The plan row of the tenant as it is now (tier, status), versioned by its effect clock,
        // which every change of either bumps: a re-run writes the same row, and the lane's last
        // row carries the current state.
        if (!tenant) throw new Error(`tenant ${tid} has no record: no plan row to write`);
        await this.eventStore().writePlan(tenantPlanRow(tid, tenant.planTier, tenant.status, tenant.effectClock));
        const written = this.now();
        // The first time the store holds the offboarded row starts the deletion's grace.
        return async (tx, t) => {
          if (!t) return;
          const offboardedPlanAt = t.status === "offboarded" && tenant.status === "offboarded" && t.offboardedPlanAt === undefined ? { offboardedPlanAt: written } : {};
          setJson(tx, keys.meta(tid), { ...t, planRowAt: written, ...offboardedPlanAt });
        };
      }
      case "events.delete": {
        // Only ever an offboarded tenant's history (offboarding is final and queues this).
        if (!tenant || tenant.status !== "offboarded") throw new Error(`refusing to delete the history of tenant ${tid}: it is ${tenant ? tenant.status : "unknown"}, not offboarded`);
        // The lane's events.plan before this one recorded when the offboarded row was written.
        if (tenant.offboardedPlanAt === undefined) throw new Error(`tenant ${tid}'s offboarded plan row is not recorded as written: its events.plan effect must complete first`);
        const due = tenant.offboardedPlanAt + (this.o.historyDeletionGraceMs ?? HISTORY_DELETION_GRACE_MS);
        if (this.now() < due) throw new EffectNotDue(due, "the ingestor may still hold a batch it accepted before the tenant's offboarded plan row (HISTORY_DELETION_GRACE_MS)");
        const { purged } = await this.deleteHistory(tenant);
        this.o.log.info({ tenantId: tid, purgedMessages: purged ?? "no bus configured" }, "offboarded tenant's history deleted");
        const at = new Date(this.now()).toISOString();
        return async (tx, t) => {
          if (t && t.status === "offboarded" && t.history !== "deleted") setJson(tx, keys.meta(tid), { ...t, history: "deleted", historyDeletedAt: at });
        };
      }
    }
  }
}
