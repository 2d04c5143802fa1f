/**
 * Each tenant's plan, applied to its events before they are inserted: the tier's daily event
 * allowance (`events.perDay`), its retention (`events.retentionDays`: each row's `retention_days`,
 * and the expiry check of ./event.ts) and the tenant's status (an offboarded tenant's events are
 * refused, so a straggler published after its history was deleted cannot bring rows back).
 *
 * Where it comes from. The tenant's plan row (`tenant_plans FINAL`, written by the provisioning
 * service; a tenant without one is new: {@link DEFAULT_PLAN_TIER}, active) and what it stored on
 * the UTC day of the messages' stream time (`tenant_usage_daily`, counted by the table's view from
 * every row the event table stores, whichever replica inserted it). Before a batch is decided,
 * ONE query reads both for the batch's tenants whose count is not good enough to decide on
 * (`MAX_TENANTS_PER_LOOKUP` tenants per query at most): unknown; stale (read more than
 * `INGESTOR_TENANT_CACHE_TTL_MS` ago); or, with the margin M = `INGESTOR_QUOTA_MARGIN_PERCENT` of
 * the tier's `events.perDay`, a tenant the batch could take within M of its allowance, or of which
 * this replica would accept more than M events since its last read. The answers stay cached, at
 * most `INGESTOR_TENANT_CACHE_MAX` tenants, the least recently used dropped first (never one with
 * events in an insert that is not over).
 *
 * Counting. A replica decides its batches one after another (it inserts several at once, but
 * decides them in order), and its estimate of a tenant's day is
 *   base  (the usage it last read, minus its own inserts that read certainly counted)
 *   + its own inserts since + its own accepted events whose insert is not over.
 * Its own events are counted exactly, the other replicas' as of its last read. An event is
 * accepted while the estimate is below `events.perDay`, and refused with reason `quota` after.
 * A read that ran while one of this replica's inserts of the tenant ended may have counted that
 * insert twice (an estimate too high, never too low); when that could refuse an event of the
 * batch, the replica waits for its inserts of the tenant to end and reads again: exact. So one
 * replica alone stores exactly the allowance.
 *
 * Overshoot bound, for R replicas sharing the durable consumer. Per tenant and UTC day:
 *
 *   events stored ≤ events.perDay + (R − 1) × (I + F)
 *
 * with I = INGESTOR_MAX_INFLIGHT_BATCHES × INGESTOR_BATCH_MAX_ROWS, and F = M, or 0 when the margin
 * is 100% (every batch of a tenant is then decided on a fresh read). No assumption on time or
 * rates. Why: take the replica whose last accepting decision rests on the latest read. That read
 * saw every event stored before it, and the replica counts its own exactly, so it accepted only
 * what fits beside those. What it did not see of another replica is (a) the batches that replica
 * had decided, or was deciding, and not yet inserted: they hold one of its INGESTOR_MAX_INFLIGHT_BATCHES
 * slots each, at most I events; and (b) what that replica accepted later on an older read: at most
 * M, since no replica accepts more than M of a tenant's events between two reads of it (and none at
 * all past one batch when every batch reads). (R − 1) × I is also at most the tenant's backlog cap
 * in `SWARM_EVENTS` (`tenantBacklogMessages`, 4,096): an event decided and not yet inserted is
 * unacked, so still in the stream. test/ingestor/tenants.test.ts measures the overshoot against
 * this bound (two replicas, at the default margin and at 100%).
 *
 * Redelivery. A batch redelivered after a crash between its insert and its ack is decided again:
 * if its tenant reached the allowance meanwhile (its own rows count now), its events are refused
 * though stored once already (the stored copy stays; the refusal is counted too). The bound holds.
 */
import { ConfigError, IssueCollector } from "../../../config/schema.js";
import { DEFAULT_PLAN_TIER, PLAN_TIER_NAMES, PLAN_TIERS, tierCatalogSchema, type PlanTierName, type TierCatalog } from "../../../config/tiers.js";
import { MAX_DAYS_PER_LOOKUP, MAX_TENANTS_PER_LOOKUP, type TenantPolicyRow } from "../../clickhouse-schema/usage-queries.js";
import type { IngestorConfig } from "./config.js";
import { MS_PER_DAY } from "./event.js";

/** A tenant's status in `tenant_plans`. */
export type TenantStatus = "active" | "offboarded";

/** What the ingestor applies to a tenant's events. */
export interface TenantPlan {
  readonly tier: PlanTierName;
  readonly status: TenantStatus;
  /** The tier's `events.perDay`. */
  readonly perDay: number;
  /** The tier's `events.retentionDays`. */
  readonly retentionDays: number;
  /** false: the tenant has no plan row (a new tenant, on the default tier). */
  readonly recorded: boolean;
}

/** The UTC day (days since 1970-01-01) of a time in ms since the epoch: the quota's day. */
export function utcDay(ms: number): number {
  return Math.floor(ms / MS_PER_DAY);
}

/** A UTC day as 'YYYY-MM-DD'. */
export function dayText(day: number): string {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}

/** The plans and usage of `tenants` on `days` (at most `MAX_TENANTS_PER_LOOKUP` and `MAX_DAYS_PER_LOOKUP`); undefined: the caller gave up (a permanent failure). */
export type TenantLookup = (tenants: readonly string[], days: readonly string[]) => Promise<readonly TenantPolicyRow[] | undefined>;

export interface TenantPoliciesOptions {
  /** Reads plans and usage (the consumer's retries around its store); none: policies unenforced, every tenant on the default tier, active, no allowance counted. */
  readonly lookup: TenantLookup | undefined;
  /** The tier catalog the plans name; validated. */
  readonly catalog?: TierCatalog;
  readonly config: IngestorConfig["tenants"];
  /** Called when the number of tenants over their allowance (latest UTC day) changes. */
  readonly onOverQuota?: (tenants: number) => void;
  /** A row the ingestor cannot use as it is (a tier not in the catalog, an unknown status, a count that is not one): it applies the stated fallback and says so. */
  readonly onBadRow?: (fields: Record<string, unknown>) => void;
  /** Clock, ms since the epoch (for the cache's TTL). */
  readonly now?: () => number;
}

/** One tenant's usage of one UTC day, as this replica counts it. */
interface DayUsage {
  readonly tenantId: string;
  readonly day: number;
  /** The last read's sum minus this replica's inserts it certainly counted (`committed` when the read was sent). */
  base: number;
  /** Events this replica inserted (insert over) since the entry was created. */
  committed: number;
  /** Events this replica accepted whose insert is not over. */
  pending: number;
  readAtMs: number;
  /** No insert of this replica for it ended while the last read ran: the read counted none twice. */
  exact: boolean;
  /** Events this replica accepted since the last read (at most the margin before it reads again). */
  sinceRead: number;
  /** Counted in {@link TenantPolicies}' over-quota tally. */
  over: boolean;
  /** This replica's batches holding accepted events of it whose insert is not over. */
  readonly inflight: Set<Admission>;
}

interface TenantEntry {
  plan: TenantPlan;
  planReadAtMs: number;
  readonly days: Map<number, DayUsage>;
}

function estimate(u: DayUsage): number {
  return u.base + u.committed + u.pending;
}

/** Validates a catalog for the ingestor; throws a ConfigError naming each bad field. */
function checkedCatalog(catalog: TierCatalog): TierCatalog {
  const out = new IssueCollector();
  if (!tierCatalogSchema.check(catalog, "catalog", out) || out.issues.length > 0) throw new ConfigError("the ingestor's tier catalog (startIngestor options.catalog)", out.issues);
  return catalog;
}

/**
 * One batch's decisions: the plan of each of its tenants, and the events it accepted against
 * their allowances. {@link stored} or {@link dropped} settles it once its insert is over.
 */
export class Admission {
  /** Accepted events by tenant and day. */
  private readonly taken = new Map<DayUsage, number>();
  private done = false;
  private resolveSettled!: () => void;
  /** Resolves when the batch's insert is over (stored or given up). */
  readonly settled: Promise<void> = new Promise((resolve) => (this.resolveSettled = resolve));
  private lastTenant: string | undefined;
  private lastDay = -1;
  private lastUsage: DayUsage | undefined;
  private lastPerDay = 0;

  constructor(private readonly policies: TenantPolicies) {}

  /** The plan of `tenantId` (a tenant of the batch). */
  plan(tenantId: string): TenantPlan {
    return this.policies.planOf(tenantId);
  }

  /** Counts one event of `tenantId` stored on UTC `day` against its allowance: true if it fits (accepted), false if not (refuse it: quota). */
  take(tenantId: string, day: number): boolean {
    if (!this.policies.enforced) return true;
    let u = this.lastUsage;
    if (u === undefined || tenantId !== this.lastTenant || day !== this.lastDay) {
      u = this.policies.usageOf(tenantId, day);
      this.lastTenant = tenantId;
      this.lastDay = day;
      this.lastUsage = u;
      this.lastPerDay = this.policies.planOf(tenantId).perDay;
    }
    if (estimate(u) >= this.lastPerDay) return false;
    u.pending++;
    u.sinceRead++;
    this.taken.set(u, (this.taken.get(u) ?? 0) + 1);
    u.inflight.add(this);
    return true;
  }

  /** The batch's rows are stored: its accepted events count as this replica's inserts. */
  stored(): void {
    this.settle(true);
  }

  /** The batch's insert was given up (a permanent failure): its accepted events count for nothing. */
  dropped(): void {
    this.settle(false);
  }

  get isSettled(): boolean {
    return this.done;
  }

  /** The usages this batch touched (for the over-quota tally). */
  touched(): Iterable<DayUsage> {
    return this.taken.keys();
  }

  private settle(stored: boolean): void {
    if (this.done) return;
    this.done = true;
    for (const [u, n] of this.taken) {
      u.pending -= n;
      if (stored) u.committed += n;
      u.inflight.delete(this);
    }
    this.policies.retally(this.taken.keys());
    this.resolveSettled();
  }
}

/** The tenants' plans and usage as one replica knows them, and the decisions of its batches. */
export class TenantPolicies {
  readonly catalog: TierCatalog;
  /** The plan of a tenant without a plan row, and of every tenant when unenforced. */
  readonly defaultPlan: TenantPlan;
  private readonly entries = new Map<string, TenantEntry>();
  private readonly now: () => number;
  private queue: Promise<void> = Promise.resolve();
  private latestDay = -1;
  private overByDay = new Map<number, number>();
  private lastOverQuota = -1;

  constructor(private readonly options: TenantPoliciesOptions) {
    this.catalog = checkedCatalog(options.catalog ?? PLAN_TIERS);
    this.defaultPlan = this.planFor(DEFAULT_PLAN_TIER, "active", false);
    this.now = options.now ?? Date.now;
  }

  /** Plans and usage are read and enforced (false: no store; every tenant on the default plan, no allowance counted). */
  get enforced(): boolean {
    return this.options.lookup !== undefined;
  }

  /** Tenants cached. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Decides one batch: reads what it needs of the batch's tenants (`tenants[i]` and `days[i]`:
   * message i's tenant, undefined when its subject names none, and the UTC day of its stream
   * time), then runs `decide` with the batch's {@link Admission}, synchronously, before any later
   * batch is decided. Undefined: a lookup was given up (a permanent failure); nothing was decided.
   */
  async decide<T>(tenants: readonly (string | undefined)[], days: readonly number[], decide: (admission: Admission) => T): Promise<{ readonly admission: Admission; readonly result: T } | undefined> {
    const release = await this.lock();
    try {
      if (this.options.lookup !== undefined) {
        const wanted = new Map<string, Map<number, number>>();
        for (let i = 0; i < tenants.length; i++) {
          const tenant = tenants[i];
          if (tenant === undefined) continue;
          const day = days[i] as number;
          let byDay = wanted.get(tenant);
          if (byDay === undefined) wanted.set(tenant, (byDay = new Map()));
          byDay.set(day, (byDay.get(day) ?? 0) + 1);
          if (day > this.latestDay) this.latestDay = day;
        }
        if (!(await this.prepare(wanted))) return undefined;
      }
      const admission = new Admission(this);
      const result = decide(admission);
      this.retally(admission.touched());
      return { admission, result };
    } finally {
      release();
    }
  }

  /** The cached plan of a tenant of the batch being decided. */
  planOf(tenantId: string): TenantPlan {
    if (!this.enforced) return this.defaultPlan;
    const entry = this.entries.get(tenantId);
    if (entry === undefined) throw new Error(`tenant ${JSON.stringify(tenantId)} is not one of the batch's tenants: its plan was not read. Fix: pass every message's tenant to decide().`);
    return entry.plan;
  }

  /** The usage of a tenant and day of the batch being decided. */
  usageOf(tenantId: string, day: number): DayUsage {
    const usage = this.entries.get(tenantId)?.days.get(day);
    if (usage === undefined) throw new Error(`tenant ${JSON.stringify(tenantId)} on day ${dayText(day)} is not one of the batch's: its usage was not read. Fix: pass every message's tenant and day to decide().`);
    return usage;
  }

  /** The events of `tenantId` this replica would still accept on UTC `day`, as it counts now (undefined: not cached). */
  remaining(tenantId: string, day: number): number | undefined {
    const entry = this.entries.get(tenantId);
    const usage = entry?.days.get(day);
    return entry === undefined || usage === undefined ? undefined : entry.plan.perDay - estimate(usage);
  }

  /** Updates the over-quota tally for `usages` and reports a changed count. */
  retally(usages: Iterable<DayUsage>): void {
    for (const u of usages) {
      const plan = this.entries.get(u.tenantId)?.plan;
      this.setOver(u, plan !== undefined && plan.status === "active" && estimate(u) >= plan.perDay);
    }
    this.report();
  }

  /** Serializes the batches' decisions: resolves with the function that lets the next one in. */
  private lock(): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const before = this.queue;
    this.queue = before.then(() => mine);
    return before.then(() => release);
  }

  private planFor(tier: PlanTierName, status: TenantStatus, recorded: boolean): TenantPlan {
    const t = this.catalog[tier];
    return { tier, status, perDay: t.events.perDay, retentionDays: t.events.retentionDays, recorded };
  }

  /** M: within this many events of its allowance a tenant's usage is read before each of its batches, and no more of its events are accepted between two reads. */
  private margin(plan: TenantPlan): number {
    return Math.ceil((plan.perDay * this.options.config.quotaMarginPercent) / 100);
  }

  /**
   * Reads what the batch needs: first (one query) every tenant unknown, stale, whose batch could
   * take it within the margin or past the margin's worth of events since its last read, waiting
   * first for this replica's inserts of those whose count is known to be uncertain; then,
   * exactly, those whose read could have counted an insert of this replica twice and would refuse
   * some of the batch's events on that count.
   */
  private async prepare(wanted: ReadonlyMap<string, ReadonlyMap<number, number>>): Promise<boolean> {
    const now = this.now();
    const ttl = this.options.config.ttlMs;
    const read = new Map<string, Set<number>>();
    const exact = new Map<string, Set<number>>();
    const add = (into: Map<string, Set<number>>, tenant: string, day: number) => {
      let days = into.get(tenant);
      if (days === undefined) into.set(tenant, (days = new Set()));
      days.add(day);
    };
    for (const [tenant, byDay] of wanted) {
      const entry = this.entries.get(tenant);
      if (entry !== undefined) this.touch(tenant, entry);
      const planStale = entry === undefined || now - entry.planReadAtMs >= ttl;
      for (const [day, count] of byDay) {
        const u = entry?.days.get(day);
        if (planStale || u === undefined || now - u.readAtMs >= ttl) {
          add(read, tenant, day);
          continue;
        }
        if (entry === undefined || entry.plan.status === "offboarded") continue;
        const remaining = entry.plan.perDay - estimate(u);
        if (remaining <= 0) {
          // Used up: nothing to read unless the count may be high (TTL refreshes pick up a new plan).
          if (!u.exact) add(exact, tenant, day);
        } else {
          const margin = this.margin(entry.plan);
          if (remaining - count < margin || u.sinceRead + count > margin) add(read, tenant, day);
        }
      }
    }
    if (exact.size > 0) {
      await this.settledInserts(exact);
      for (const [tenant, days] of exact) for (const day of days) add(read, tenant, day);
    }
    if (read.size > 0 && !(await this.read(read, now))) return false;

    // A count that may be high and would refuse events of this batch: read it again, exactly.
    const again = new Map<string, Set<number>>();
    for (const [tenant, byDay] of wanted) {
      const entry = this.entries.get(tenant) as TenantEntry;
      if (entry.plan.status === "offboarded") continue;
      for (const [day, count] of byDay) {
        const u = entry.days.get(day) as DayUsage;
        if (!u.exact && entry.plan.perDay - estimate(u) < count) add(again, tenant, day);
      }
    }
    if (again.size > 0) {
      await this.settledInserts(again);
      if (!(await this.read(again, this.now()))) return false;
    }
    this.evict(wanted);
    return true;
  }

  /** Waits until no insert of this replica holding events of these tenants and days is running (none can start: decisions wait for this one). */
  private async settledInserts(keys: ReadonlyMap<string, ReadonlySet<number>>): Promise<void> {
    const waits = new Set<Promise<void>>();
    for (const [tenant, days] of keys) {
      const entry = this.entries.get(tenant);
      for (const day of days) for (const a of entry?.days.get(day)?.inflight ?? []) waits.add(a.settled);
    }
    await Promise.all(waits);
  }

  /** Reads plans and usage of `keys` (tenant → days), in queries of at most MAX_TENANTS_PER_LOOKUP tenants and MAX_DAYS_PER_LOOKUP days. */
  private async read(keys: ReadonlyMap<string, ReadonlySet<number>>, now: number): Promise<boolean> {
    const lookup = this.options.lookup as TenantLookup;
    // Tenants grouped by their set of days (nearly always one group: a batch spans one day, two around midnight).
    const groups = new Map<string, { days: number[]; tenants: string[] }>();
    for (const [tenant, daySet] of keys) {
      const days = [...daySet].sort((a, b) => a - b);
      const key = days.join(",");
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = { days, tenants: [] }));
      group.tenants.push(tenant);
    }
    for (const { days, tenants } of groups.values()) {
      for (let d = 0; d < days.length; d += MAX_DAYS_PER_LOOKUP) {
        const someDays = days.slice(d, d + MAX_DAYS_PER_LOOKUP);
        const someDayTexts = someDays.map(dayText); // formatted once per chunk, not per tenant and query
        for (let t = 0; t < tenants.length; t += MAX_TENANTS_PER_LOOKUP) {
          const someTenants = tenants.slice(t, t + MAX_TENANTS_PER_LOOKUP);
          // This replica's inserts the read will certainly count: those over before it is sent.
          const sent = new Map<DayUsage, number>();
          for (const tenant of someTenants) for (const day of someDays) {
            const u = this.entries.get(tenant)?.days.get(day);
            if (u !== undefined) sent.set(u, u.committed);
          }
          const rows = await lookup(someTenants, someDayTexts);
          if (rows === undefined) return false;
          this.apply(rows, someTenants, someDays, someDayTexts, sent, now);
        }
      }
    }
    return true;
  }

  /** `dayTexts[i]`: `days[i]` as 'YYYY-MM-DD' (the usage rows' `day`). */
  private apply(rows: readonly TenantPolicyRow[], tenants: readonly string[], days: readonly number[], dayTexts: readonly string[], sent: ReadonlyMap<DayUsage, number>, now: number): void {
    const plans = new Map<string, TenantPolicyRow>();
    const usage = new Map<string, number>();
    for (const row of rows) {
      if (row.kind === "plan") plans.set(row.tenant_id, row);
      else usage.set(`${row.tenant_id} ${row.day}`, this.count(row));
    }
    for (const tenant of tenants) {
      const plan = this.parsePlan(tenant, plans.get(tenant));
      let entry = this.entries.get(tenant);
      if (entry === undefined) {
        entry = { plan, planReadAtMs: now, days: new Map() };
        this.entries.set(tenant, entry);
      } else {
        entry.plan = plan;
        entry.planReadAtMs = now;
      }
      for (let d = 0; d < days.length; d++) {
        const day = days[d] as number;
        const total = usage.get(`${tenant} ${dayTexts[d]}`) ?? 0;
        let u = entry.days.get(day);
        if (u === undefined) {
          u = { tenantId: tenant, day, base: 0, committed: 0, pending: 0, readAtMs: now, exact: true, sinceRead: 0, over: false, inflight: new Set() };
          entry.days.set(day, u);
        }
        const before = sent.get(u) ?? 0;
        u.base = total - before;
        u.exact = u.committed === before;
        u.readAtMs = now;
        u.sinceRead = 0;
      }
      this.retally(entry.days.values());
    }
  }

  /** A usage row's `events` (a UInt64: a number, or a quoted one). */
  private count(row: TenantPolicyRow): number {
    const n = typeof row.events === "number" ? row.events : Number(row.events);
    if (Number.isSafeInteger(n) && n >= 0) return n;
    this.options.onBadRow?.({ tenant: row.tenant_id, day: row.day, events: row.events, problem: "usage events is not a count; counted as the allowance (the tenant's events are refused until a read gives a count)" });
    return Number.MAX_SAFE_INTEGER / 4;
  }

  private parsePlan(tenant: string, row: TenantPolicyRow | undefined): TenantPlan {
    if (row === undefined) return this.defaultPlan;
    let tier: PlanTierName = DEFAULT_PLAN_TIER;
    if ((PLAN_TIER_NAMES as readonly string[]).includes(row.plan_tier)) tier = row.plan_tier as PlanTierName;
    else this.options.onBadRow?.({ tenant, plan_tier: row.plan_tier, problem: `plan_tier is not a tier of the catalog (${PLAN_TIER_NAMES.join(", ")}); the tenant is taken as ${DEFAULT_PLAN_TIER}` });
    let status: TenantStatus = "active";
    if (row.status === "offboarded") status = "offboarded";
    else if (row.status !== "active") this.options.onBadRow?.({ tenant, status: row.status, problem: "status is neither active nor offboarded; the tenant is taken as active" });
    return this.planFor(tier, status, true);
  }

  /** Marks `entry` most recently used, and drops its past days that nothing holds. */
  private touch(tenant: string, entry: TenantEntry): void {
    this.entries.delete(tenant);
    this.entries.set(tenant, entry);
    for (const [day, u] of entry.days) {
      if (day < this.latestDay - 1 && u.pending === 0 && u.inflight.size === 0) {
        this.setOver(u, false);
        entry.days.delete(day);
      }
    }
  }

  /** Drops the least recently used tenants beyond the cache's size, never one of this batch or with events in an insert not over. */
  private evict(keep: ReadonlyMap<string, unknown>): void {
    let excess = this.entries.size - this.options.config.cacheMax;
    if (excess <= 0) return;
    for (const [tenant, entry] of this.entries) {
      if (excess <= 0) break;
      if (keep.has(tenant)) continue;
      let held = false;
      for (const u of entry.days.values()) if (u.pending > 0 || u.inflight.size > 0) held = true;
      if (held) continue;
      for (const u of entry.days.values()) this.setOver(u, false);
      this.entries.delete(tenant);
      excess--;
    }
    this.report();
  }

  private setOver(u: DayUsage, over: boolean): void {
    if (u.over === over) return;
    u.over = over;
    this.overByDay.set(u.day, (this.overByDay.get(u.day) ?? 0) + (over ? 1 : -1));
  }

  private report(): void {
    for (const day of this.overByDay.keys()) if (day < this.latestDay - 7) this.overByDay.delete(day); // a week back: past any day still held
    const count = this.overByDay.get(this.latestDay) ?? 0;
    if (count !== this.lastOverQuota) {
      this.lastOverQuota = count;
      this.options.onOverQuota?.(count);
    }
  }
}

/** The cap on a tenant's daily allowance the ingestor reports in refusals: "<n> events of <day> (the <tier> tier's events.perDay)". */
export function quotaDetail(tenantId: string, plan: TenantPlan, day: number): string {
  return `tenant ${JSON.stringify(tenantId)} has used its allowance of ${plan.perDay} events for ${dayText(day)} (UTC, by stream time; the ${plan.tier} tier's events.perDay)`;
}

/** Why an offboarded tenant's event is refused. */
export function offboardedDetail(tenantId: string): string {
  return `tenant ${JSON.stringify(tenantId)} is offboarded (tenant_plans status): its events are no longer stored`;
}
