/**
 * Each tenant's plan applied by the ingestor (issue 17: daily allowance, retention, offboarding),
 * on a real nats-server and the real ClickHouse engine (chdb): the plan and usage lookups of
 * ./tenants.ts against the engine's tables as the ingestor principal (batched, cached, re-read near
 * the allowance), and end to end: one replica stores exactly a tenant's allowance, two replicas on
 * one durable consumer stay within the stated overshoot bound (measured and printed), expired
 * events and an offboarded tenant's are dead-lettered and counted, and every refusal is in the
 * dead-letter stream with its reason.
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIERS, type TierCatalog } from "../../config/tiers.js";
import { ClickHouseSchemaError, qualified, SWARM_EVENTS_TABLE, TENANT_PLANS_TABLE, TENANT_USAGE_TABLE, tenantPolicyQuery, tenantRefusalsInsert, type TenantPlanRow } from "../../services/clickhouse-schema/index.js";
import { IngestorConfigError, loadIngestorConfig } from "../../services/ingestor/src/config.js";
import { DLQ_HEADERS, DLQ_STREAM, dlqSubject } from "../../services/ingestor/src/consumer.js";
import type { RejectReason } from "../../services/ingestor/src/event.js";
import { SwarmEventSchema } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { buildEvent, typicalKind } from "../../services/ingestor/src/generator.js";
import { startIngestor, type RunningIngestor } from "../../services/ingestor/src/main.js";
import { INGESTOR_METRICS } from "../../services/ingestor/src/metrics.js";
import { ClickHouseSink, type Sink } from "../../services/ingestor/src/sink.js";
import { TenantPolicies, utcDay, dayText } from "../../services/ingestor/src/tenants.js";
import { eventSubject } from "../../services/nats-auth/streams.js";
import { ADMIN, INGESTOR, rows } from "../support/chdb.js";
import { audit, collectingLogger, makeEvents, metricValue, publishAll, until, type PublishedEvent } from "../support/ingestor.js";
import { PIPELINE_CONSUMER, startPipelineFixture, type PipelineFixture } from "../support/pipeline.js";

const EVENTS = `${qualified(SWARM_EVENTS_TABLE)} FINAL`;
const M = INGESTOR_METRICS;
const DAY_MS = 86_400_000;

let fixture: PipelineFixture;
let js: JetStreamClient;
let jsm: JetStreamManager;

/** The catalog with a small free-tier allowance, as a test passes it to the ingestor. */
function catalogWith(perDay: number): TierCatalog {
  return { ...PLAN_TIERS, free: { ...PLAN_TIERS.free, events: { ...PLAN_TIERS.free.events, perDay } } };
}

/** `count` events of `tenant` whose timestamps are `ageMs` before now (0: now). */
function eventsAt(tenant: string, count: number, seed: number, ageMs: number): PublishedEvent[] {
  const now = new Date(Date.now() - ageMs);
  return Array.from({ length: count }, (_, i) => {
    const event = buildEvent({ tenantId: tenant, projectId: "proj", agentId: `agent-${i % 5}`, userId: "user-1", kind: typicalKind(i), now, seed: seed * 1_000_003 + i });
    return { eventId: event.eventId, subject: eventSubject(tenant, "proj"), data: toBinary(SwarmEventSchema, event) };
  });
}

const drained = () => fixture.drained(PIPELINE_CONSUMER);

/** The dead letters of `reason` whose original subject is `tenant`'s: their event ids and details. */
async function deadLetters(reason: RejectReason, tenant: string): Promise<{ eventId: string; detail: string }[]> {
  const subject = dlqSubject(reason);
  const info = await jsm.streams.info(DLQ_STREAM, { subjects_filter: subject });
  const count = info.state.subjects?.[subject] ?? 0;
  if (count === 0) return [];
  const reader = await js.consumers.get(DLQ_STREAM, { filter_subjects: [subject] });
  const out: { eventId: string; detail: string }[] = [];
  let read = 0;
  for await (const m of await reader.fetch({ max_messages: count, expires: 5_000 })) {
    read++;
    if (m.headers?.get(DLQ_HEADERS.subject) === `swarm.${tenant}.events`) {
      expect(m.headers.get(DLQ_HEADERS.reason)).toBe(reason);
      out.push({ eventId: fromBinary(SwarmEventSchema, m.data).eventId, detail: m.headers.get(DLQ_HEADERS.detail) });
    }
    if (read === count) break;
  }
  expect(read).toBe(count);
  return out;
}

/** Stored events, distinct ids and their retention_days, and the usage counters of `tenant` (as the administrator). */
async function storedOf(tenant: string): Promise<{ ids: Set<string>; retention: number[]; usage: { events: number; rejected_quota: number; rejected_expired: number } }> {
  return fixture.engine.as(ADMIN, async (c) => {
    const stored = await rows<{ id: string; retention_days: number }>(c, { query: `SELECT toString(event_id) AS id, retention_days FROM ${EVENTS} WHERE tenant_id = {t:String}`, query_params: { t: tenant } });
    const [usage] = await rows<Record<string, number | string>>(c, {
      query: `SELECT sum(events) AS events, sum(rejected_quota) AS rejected_quota, sum(rejected_expired) AS rejected_expired FROM ${qualified(TENANT_USAGE_TABLE)} WHERE tenant_id = {t:String}`,
      query_params: { t: tenant },
    });
    return {
      ids: new Set(stored.map((r) => r.id)),
      retention: [...new Set(stored.map((r) => Number(r.retention_days)))].sort((a, b) => a - b),
      usage: { events: Number(usage?.["events"] ?? 0), rejected_quota: Number(usage?.["rejected_quota"] ?? 0), rejected_expired: Number(usage?.["rejected_expired"] ?? 0) },
    };
  });
}

/** Writes plan rows as the provisioning service does. */
async function writePlans(client: ClickHouseClient, plans: readonly Omit<TenantPlanRow, "updated_at">[]): Promise<void> {
  const updated_at = new Date().toISOString().replace("T", " ").slice(0, 23);
  await client.insert({ table: qualified(TENANT_PLANS_TABLE), values: plans.map((p) => ({ ...p, updated_at })), format: "JSONEachRow" });
}

/** Runs in-process replicas on the engine as the ingestor principal (its grants only), their tenant store the engine. */
async function withReplicas<T>(count: number, env: Readonly<Record<string, string>>, catalog: TierCatalog, fn: (replicas: readonly RunningIngestor[], log: ReturnType<typeof collectingLogger>) => Promise<T>): Promise<T> {
  return fixture.engine.as(INGESTOR, async (client) => {
    const store = new ClickHouseSink(client);
    const sink: Sink = { insert: (r, token) => store.insert(r, token), close: async () => {} };
    const config = loadIngestorConfig(fixture.ingestorEnv(env));
    const log = collectingLogger();
    const replicas: RunningIngestor[] = [];
    try {
      for (let i = 0; i < count; i++) replicas.push(await startIngestor(config, log, sink, { tenants: store, catalog }));
      return await fn(replicas, log);
    } finally {
      for (const r of replicas) await r.stop();
    }
  });
}

beforeAll(async () => {
  fixture = await startPipelineFixture();
  ({ js, jsm } = fixture);
}, 30_000);

afterAll(async () => {
  await fixture?.stop();
});

describe("tenant policy configuration", () => {
  it("has documented defaults and names the variable and the fix of a bad value", () => {
    expect(loadIngestorConfig({}).tenants).toEqual({ cacheMax: 100_000, ttlMs: 1_000, quotaMarginPercent: 5 });
    expect(loadIngestorConfig({ INGESTOR_TENANT_CACHE_TTL_MS: "250", INGESTOR_QUOTA_MARGIN_PERCENT: "100" }).tenants).toMatchObject({ ttlMs: 250, quotaMarginPercent: 100 });
    expect(() => loadIngestorConfig({ INGESTOR_TENANT_CACHE_TTL_MS: "50" })).toThrow(/^INGESTOR_TENANT_CACHE_TTL_MS = "50" is not a whole number from 100 to 60000\. Fix: set INGESTOR_TENANT_CACHE_TTL_MS to an integer from 100 to 60000, or unset it for 1000\.$/);
    expect(() => loadIngestorConfig({ INGESTOR_QUOTA_MARGIN_PERCENT: "101" })).toThrow(IngestorConfigError);
    expect(() => loadIngestorConfig({ INGESTOR_TENANT_CACHE_MAX: "many" })).toThrow(/INGESTOR_TENANT_CACHE_MAX = "many" is not a whole number/);
    // The tenants of the batches in hand must fit: at least one prefetch.
    expect(() => loadIngestorConfig({ INGESTOR_TENANT_CACHE_MAX: "20000" })).toThrow(
      /^INGESTOR_TENANT_CACHE_MAX = "20000" is below this replica's prefetch of 30000 messages .*Fix: set it to at least 30000, or lower INGESTOR_BATCH_MAX_ROWS\.$/,
    );
    expect(loadIngestorConfig({ INGESTOR_TENANT_CACHE_MAX: "20000", INGESTOR_BATCH_MAX_ROWS: "5000" }).tenants.cacheMax).toBe(20_000);
  });

  it("builds the lookup and the refusal counts only from valid values, naming the field", () => {
    expect(tenantPolicyQuery({ tenants: ["acme", "globex"], days: ["2026-12-04"] }).query_params).toEqual({ tenants: "acme,globex", days: "2026-12-04" });
    expect(() => tenantPolicyQuery({ tenants: ["acme", "Bad,Id"], days: ["2026-12-04"] })).toThrow(/tenants\[1\] = "Bad,Id" is not a valid tenant id/);
    expect(() => tenantPolicyQuery({ tenants: ["acme"], days: ["2026-02-30"] })).toThrow(/days\[0\] = "2026-02-30" is not a day\. Fix: pass a UTC day as 'YYYY-MM-DD'/);
    expect(() => tenantPolicyQuery({ tenants: Array.from({ length: 2_001 }, (_, i) => `t-${i}00`), days: ["2026-12-04"] })).toThrow(/tenants = "2001 values" is not a list of 1 to 2000 values\. Fix: split the tenants into lookups of at most 2000/);
    expect(() => tenantPolicyQuery({ tenants: [], days: ["2026-12-04"] })).toThrow(ClickHouseSchemaError);
    expect(tenantRefusalsInsert([{ tenantId: "acme", day: "2026-12-04", quota: 3, expired: 1 }], "refused:x").values).toEqual([{ tenant_id: "acme", day: "2026-12-04", events: 0, rejected_quota: 3, rejected_expired: 1 }]);
    expect(() => tenantRefusalsInsert([{ tenantId: "acme", day: "2026-12-04", quota: 0, expired: 0 }], "t")).toThrow(/refusals\[0\] = .* refuses nothing/);
    expect(() => tenantRefusalsInsert([{ tenantId: "acme", day: "2026-12-04", quota: -1, expired: 0 }], "t")).toThrow(/refusals\[0\]\.quota = -1 is not a count/);
    expect(() => tenantRefusalsInsert([{ tenantId: "acme", day: "2026-12-04", quota: 1, expired: 0 }], "")).toThrow(/token = "" is not a deduplication token/);
  });

  it("refuses a tier catalog the ingestor cannot apply, naming the field", () => {
    const bad = { ...PLAN_TIERS, free: { ...PLAN_TIERS.free, events: { perDay: 0, retentionDays: 30 } } };
    expect(() => new TenantPolicies({ lookup: undefined, catalog: bad, config: loadIngestorConfig({}).tenants })).toThrow(/catalog\.free\.events\.perDay = 0/);
  });
});

describe("tenant plans and usage lookups (the ingestor principal on the engine)", () => {
  const config = { cacheMax: 1_000, ttlMs: 1_000, quotaMarginPercent: 10 };
  const today = utcDay(Date.now());

  it("reads a batch's tenants in one query: no plan row is the default tier and active, a row's tier and status apply, an unknown tier falls back and is reported", async () => {
    await fixture.engine.as(ADMIN, (c) =>
      writePlans(c, [
        { tenant_id: "look-pro", plan_tier: "pro", status: "active" },
        { tenant_id: "look-gone", plan_tier: "enterprise", status: "offboarded" },
        { tenant_id: "look-odd", plan_tier: "platinum", status: "active" },
      ]),
    );
    const bad: Record<string, unknown>[] = [];
    await fixture.engine.as(INGESTOR, async (client) => {
      const store = new ClickHouseSink(client);
      let lookups = 0;
      const policies = new TenantPolicies({ lookup: (t, d) => (lookups++, store.readTenants(t, d)), config, onBadRow: (f) => bad.push(f) });
      const tenants = ["look-new", "look-pro", "look-gone", "look-odd"];
      const decided = await policies.decide(tenants, tenants.map(() => today), (a) => tenants.map((t) => a.plan(t)));
      expect(lookups).toBe(1);
      expect(decided?.result.map((p) => [p.tier, p.status, p.perDay, p.retentionDays, p.recorded])).toEqual([
        ["free", "active", PLAN_TIERS.free.events.perDay, PLAN_TIERS.free.events.retentionDays, false],
        ["pro", "active", PLAN_TIERS.pro.events.perDay, PLAN_TIERS.pro.events.retentionDays, true],
        ["enterprise", "offboarded", PLAN_TIERS.enterprise.events.perDay, PLAN_TIERS.enterprise.events.retentionDays, true],
        ["free", "active", PLAN_TIERS.free.events.perDay, PLAN_TIERS.free.events.retentionDays, true],
      ]);
      expect(bad).toEqual([expect.objectContaining({ tenant: "look-odd", plan_tier: "platinum" })]);
      decided?.admission.stored();
    });
  });

  it("caches far tenants for the TTL or the margin's worth of events, reads one query per 2,000 tenants, and re-reads a tenant near its allowance before each batch, seeing the others' usage", async () => {
    let clock = Date.now();
    const catalog = catalogWith(100);
    await fixture.engine.as(INGESTOR, async (client) => {
      const store = new ClickHouseSink(client);
      let lookups = 0;
      let tokens = 0;
      /** What the usage view counts when a replica's batch of `events` of `tenant` is stored. */
      const stored = (tenant: string, events: number) =>
        client.insert({ table: qualified(TENANT_USAGE_TABLE), values: [{ tenant_id: tenant, day: dayText(today), events, rejected_quota: 0, rejected_expired: 0 }], format: "JSONEachRow", clickhouse_settings: { insert_deduplication_token: `usage-test-${++tokens}` } });
      const policies = new TenantPolicies({ lookup: (t, d) => (lookups++, store.readTenants(t, d)), catalog, config: { ...config, cacheMax: 5_000 }, now: () => clock });
      /** One batch of `n` events of `tenant`, inserted: the events accepted. */
      const batch = async (tenant: string, n: number) => {
        const decided = await policies.decide(Array.from({ length: n }, () => tenant), Array.from({ length: n }, () => today), (a) => {
          let accepted = 0;
          for (let i = 0; i < n; i++) if (a.take(tenant, today)) accepted++;
          return accepted;
        });
        if (decided === undefined) throw new Error("lookup given up");
        if (decided.result > 0) await stored(tenant, decided.result);
        decided.admission.stored();
        return decided.result;
      };

      // Far from the allowance (100, margin 10): one read, then the cache for up to 10 events or the TTL.
      expect([await batch("cache-a", 5), lookups]).toEqual([5, 1]);
      expect([await batch("cache-a", 5), lookups]).toEqual([5, 1]);
      expect([await batch("cache-a", 5), lookups]).toEqual([5, 2]); // 15 since the last read: more than the margin
      clock += config.ttlMs;
      expect([await batch("cache-a", 5), lookups]).toEqual([5, 3]); // the TTL
      expect(policies.remaining("cache-a", today)).toBe(80);

      // 85 of this replica's own, then another replica stores 10 and a refusal count (events = 0) is added.
      expect(await batch("cache-b", 85)).toBe(85);
      await stored("cache-b", 10);
      await client.insert(tenantRefusalsInsert([{ tenantId: "cache-b", day: dayText(today), quota: 7, expired: 0 }], "refused:test-b"));
      // A batch that could take it within the margin is decided on a fresh read: 100 − 95 fit.
      const before = lookups;
      expect(await batch("cache-b", 20)).toBe(5);
      expect(lookups).toBe(before + 1);
      expect(policies.remaining("cache-b", today)).toBe(0);
      // Used up, on an exact count: refused without a read until the TTL.
      expect(await batch("cache-b", 20)).toBe(0);
      expect(lookups).toBe(before + 1);

      // 2,500 unknown tenants in one batch: two queries (2,000 tenants at most each).
      const many = Array.from({ length: 2_500 }, (_, i) => `many-${String(i).padStart(4, "0")}`);
      const beforeMany = lookups;
      const wide = await policies.decide(many, many.map(() => today), (a) => many.filter((t) => a.take(t, today)).length);
      expect(wide?.result).toBe(2_500);
      expect(lookups - beforeMany).toBe(2);
      wide?.admission.stored();
    });
  });

  it("keeps at most the cache's size, but never drops a tenant whose events are in an insert not over", async () => {
    await fixture.engine.as(INGESTOR, async (client) => {
      const store = new ClickHouseSink(client);
      const policies = new TenantPolicies({ lookup: (t, d) => store.readTenants(t, d), config });
      const batch = (prefix: string) => {
        const tenants = Array.from({ length: 600 }, (_, i) => `${prefix}-${i}`);
        return policies.decide(tenants, tenants.map(() => today), (a) => tenants.forEach((t) => a.take(t, today)));
      };
      const one = await batch("evict-one");
      const two = await batch("evict-two");
      expect(policies.size).toBe(1_200); // both batches' tenants hold events in flight
      one?.admission.stored();
      two?.admission.stored();
      const three = await batch("evict-three");
      expect(policies.size).toBe(1_000);
      three?.admission.stored();
    });
  });
});

describe("tenant policies end to end (real nats-server, the engine as the ingestor principal)", () => {
  const ENV = { INGESTOR_BATCH_MAX_ROWS: "100", INGESTOR_MAX_INFLIGHT_BATCHES: "2" };

  it("one replica stores exactly the allowance; every event beyond it is dead-lettered as quota, counted in tenant_usage_daily and the metrics", async () => {
    const ALLOWANCE = 300;
    const capped = makeEvents(["quota-one"], 1_000, 51);
    const control = makeEvents(["quota-ctl"], 200, 52);
    const [scraped] = await withReplicas(1, ENV, catalogWith(ALLOWANCE), async ([replica]) => {
      // Flowing, interleaved with a tenant well within its allowance.
      for (let i = 0; i < capped.length; i += 100) await publishAll(js, [...capped.slice(i, i + 100), ...control.slice(i / 5, i / 5 + 20)]);
      await until(drained, "every event acked or terminated", 30_000);
      return [await replica!.metrics.registry.metrics()] as const;
    });
    const stored = await storedOf("quota-one");
    expect(stored.ids.size).toBe(ALLOWANCE);
    expect(stored.retention).toEqual([PLAN_TIERS.free.events.retentionDays]);
    const refused = await deadLetters("quota", "quota-one");
    expect(refused).toHaveLength(capped.length - ALLOWANCE);
    expect(refused[0]?.detail).toMatch(/^tenant "quota-one" has used its allowance of 300 events for \d{4}-\d\d-\d\d \(UTC, by stream time; the free tier's events\.perDay\)$/);
    // Stored and refused are the published events, each once.
    const all = new Set([...stored.ids, ...refused.map((r) => r.eventId)]);
    expect(all.size).toBe(capped.length);
    expect([...all].every((id) => capped.some((e) => e.eventId === id))).toBe(true);
    expect(stored.usage).toEqual({ events: ALLOWANCE, rejected_quota: capped.length - ALLOWANCE, rejected_expired: 0 });
    expect((await storedOf("quota-ctl")).ids.size).toBe(200);
    expect(metricValue(scraped, M.refused.name, { reason: "quota", tier: "free" })).toBe(capped.length - ALLOWANCE);
    expect(metricValue(scraped, M.deadLettered.name, { reason: "quota" })).toBe(capped.length - ALLOWANCE);
    expect(metricValue(scraped, M.tenantsOverQuota.name)).toBe(1);
    expect(metricValue(scraped, M.tenantLookups.name, { outcome: "ok" })).toBeGreaterThan(0);
    expect(metricValue(scraped, M.tenantLookups.name, { outcome: "error" })).toBe(0);
  }, 60_000);

  /**
   * Two in-process replicas (each its own NATS connection, one durable consumer) and a tenant
   * publishing 3,000 events against an allowance of 600, in batches of 100 with 2 in flight.
   * The stated bound (./tenants.ts): stored ≤ allowance + (replicas − 1) × (in-flight rows + F),
   * F the margin M (0 at 100%). Prints the measured overshoot as one JSON line.
   */
  async function overshoot(tenant: string, marginPercent: number, seed: number) {
    const ALLOWANCE = 600;
    const REPLICAS = 2;
    const MAX_ROWS = 100;
    const MAX_INFLIGHT = 2;
    const margin = Math.ceil((ALLOWANCE * marginPercent) / 100);
    const bound = (REPLICAS - 1) * (MAX_INFLIGHT * MAX_ROWS + (marginPercent === 100 ? 0 : margin));
    const events = makeEvents([tenant], 3_000, seed);
    const perReplica = await withReplicas(REPLICAS, { ...ENV, INGESTOR_QUOTA_MARGIN_PERCENT: String(marginPercent) }, catalogWith(ALLOWANCE), async (replicas) => {
      for (let i = 0; i < events.length; i += 100) await publishAll(js, events.slice(i, i + 100));
      await until(drained, "every event acked or terminated", 60_000);
      return replicas.map((r) => r.consumer.health().rowsInserted);
    });
    const stored = await storedOf(tenant);
    const refused = await deadLetters("quota", tenant);
    console.log(JSON.stringify({ measurement: "quota overshoot", replicas: REPLICAS, batchMaxRows: MAX_ROWS, maxInflightBatches: MAX_INFLIGHT, marginPercent, allowance: ALLOWANCE, published: events.length, stored: stored.ids.size, overshoot: stored.ids.size - ALLOWANCE, bound, rowsInsertedPerReplica: perReplica }));
    // Both replicas took part.
    expect(perReplica.every((n) => n > 0), `rows inserted per replica: ${perReplica.join(", ")}`).toBe(true);
    expect(stored.ids.size).toBeGreaterThanOrEqual(ALLOWANCE);
    expect(stored.ids.size - ALLOWANCE).toBeLessThanOrEqual(bound);
    // Every event beyond what is stored is in the dead-letter stream as quota, each once.
    expect(refused).toHaveLength(events.length - stored.ids.size);
    expect(new Set([...stored.ids, ...refused.map((r) => r.eventId)]).size).toBe(events.length);
    expect(stored.usage.events).toBe(stored.ids.size);
    expect(stored.usage.rejected_quota + stored.usage.events).toBe(events.length);
  }

  it("two replicas on one durable consumer, every batch on a fresh read (margin 100%): overshoot ≤ (replicas − 1) × in-flight rows, the rest dead-lettered as quota, rejected_quota + events = published (measured)", async () => {
    await overshoot("quota-fresh", 100, 53);
  }, 90_000);

  it("two replicas on one durable consumer with the default margin: overshoot ≤ (replicas − 1) × (in-flight rows + margin) (measured)", async () => {
    await overshoot("quota-default", loadIngestorConfig({}).tenants.quotaMarginPercent, 54);
  }, 90_000);

  it("dead-letters an event older than its tenant's retention as expired (counted), and stores each row with its tier's retention", async () => {
    const FREE = PLAN_TIERS.free.events.retentionDays;
    const PRO = PLAN_TIERS.pro.events.retentionDays;
    await fixture.engine.as(ADMIN, (c) => writePlans(c, [{ tenant_id: "keep-pro", plan_tier: "pro", status: "active" }]));
    const freshFree = eventsAt("keep-free", 50, 61, 0);
    const oldFree = eventsAt("keep-free", 30, 62, (FREE + 1) * DAY_MS);
    const oldPro = eventsAt("keep-pro", 20, 63, (FREE + 1) * DAY_MS); // within pro's 180 days
    const ancientPro = eventsAt("keep-pro", 10, 64, (PRO + 1) * DAY_MS);
    const [scraped] = await withReplicas(1, ENV, PLAN_TIERS, async ([replica]) => {
      await publishAll(js, [...freshFree, ...oldFree, ...oldPro, ...ancientPro]);
      await until(drained, "every event acked or terminated", 30_000);
      return [await replica!.metrics.registry.metrics()] as const;
    });
    const free = await storedOf("keep-free");
    expect([free.ids.size, free.retention]).toEqual([50, [FREE]]);
    expect(free.usage).toEqual({ events: 50, rejected_quota: 0, rejected_expired: 30 });
    const freeExpired = await deadLetters("expired", "keep-free");
    expect(new Set(freeExpired.map((r) => r.eventId))).toEqual(new Set(oldFree.map((e) => e.eventId)));
    expect(freeExpired[0]?.detail).toMatch(new RegExp(`is more than retentionDays = ${FREE} days before its stream time`));
    const pro = await storedOf("keep-pro");
    expect([pro.ids.size, pro.retention]).toEqual([20, [PRO]]);
    expect(pro.usage).toEqual({ events: 20, rejected_quota: 0, rejected_expired: 10 });
    expect(await deadLetters("expired", "keep-pro")).toHaveLength(10);
    expect(metricValue(scraped, M.refused.name, { reason: "expired", tier: "free" })).toBe(30);
    expect(metricValue(scraped, M.refused.name, { reason: "expired", tier: "pro" })).toBe(10);
  }, 60_000);

  it("dead-letters an offboarded tenant's events (not stored, not counted), and sees an offboarding within the cache's TTL", async () => {
    const TTL_MS = 300;
    await fixture.engine.as(ADMIN, (c) => writePlans(c, [{ tenant_id: "gone-before", plan_tier: "pro", status: "offboarded" }]));
    const straggler = makeEvents(["gone-before"], 40, 71);
    const before = makeEvents(["gone-during"], 30, 72);
    const after = makeEvents(["gone-during"], 25, 73);
    const log = collectingLogger();
    // The administrator's session plays the provisioning service mid-run (the ingestor principal may not write plans).
    const text = await fixture.engine.as(ADMIN, async (client) => {
      const store = new ClickHouseSink(client);
      const running = await startIngestor(loadIngestorConfig(fixture.ingestorEnv({ ...ENV, INGESTOR_TENANT_CACHE_TTL_MS: String(TTL_MS) })), log, { insert: (r, t) => store.insert(r, t), close: async () => {} }, { tenants: store });
      try {
        await publishAll(js, [...straggler, ...before]);
        await until(drained, "the first events acked or terminated", 30_000);
        await writePlans(client, [{ tenant_id: "gone-during", plan_tier: "free", status: "offboarded" }]);
        await new Promise((r) => setTimeout(r, TTL_MS + 100));
        await publishAll(js, after);
        await until(drained, "the later events terminated", 30_000);
        return await running.metrics.registry.metrics();
      } finally {
        await running.stop();
      }
    });
    const gone = await storedOf("gone-before");
    expect(gone.ids.size).toBe(0);
    expect(gone.usage).toEqual({ events: 0, rejected_quota: 0, rejected_expired: 0 });
    const letters = await deadLetters("offboarded", "gone-before");
    expect(new Set(letters.map((l) => l.eventId))).toEqual(new Set(straggler.map((e) => e.eventId)));
    expect(letters[0]?.detail).toBe('tenant "gone-before" is offboarded (tenant_plans status): its events are no longer stored');
    const during = await storedOf("gone-during");
    expect(during.ids).toEqual(new Set(before.map((e) => e.eventId)));
    expect(new Set((await deadLetters("offboarded", "gone-during")).map((l) => l.eventId))).toEqual(new Set(after.map((e) => e.eventId)));
    expect(metricValue(text, M.refused.name, { reason: "offboarded", tier: "pro" })).toBe(40);
    expect(metricValue(text, M.refused.name, { reason: "offboarded", tier: "free" })).toBe(25);
    // One log line per tenant and reason per batch, not one per event.
    const lines = log.lines.filter((l) => l.msg === "events refused by the tenant's plan");
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.reduce((n, l) => n + Number(l.fields["count"]), 0)).toBe(65);
    expect(log.lines.filter((l) => l.msg === "event dead-lettered")).toEqual([]);
  }, 60_000);

  it("says so when it has no tenant store (a sink override without one): every tenant on the default tier, its retention in the rows", async () => {
    const events = makeEvents(["plain-sink"], 20, 81);
    const log = collectingLogger();
    await fixture.engine.as(INGESTOR, async (client) => {
      const store = new ClickHouseSink(client);
      const running = await startIngestor(loadIngestorConfig(fixture.ingestorEnv(ENV)), log, { insert: (r, t) => store.insert(r, t), close: async () => {} });
      try {
        await publishAll(js, events);
        await until(drained, "the events acked", 30_000);
      } finally {
        await running.stop();
      }
    });
    expect(log.lines).toContainEqual(expect.objectContaining({ level: "warn", msg: expect.stringMatching(/^tenant policies unenforced: no tenant store/) as unknown as string }));
    const stored = await storedOf("plain-sink");
    expect([stored.ids.size, stored.retention]).toEqual([20, [PLAN_TIERS.free.events.retentionDays]]);
    expect(await fixture.engine.as(ADMIN, (c) => audit(c, EVENTS, ["plain-sink"], events.map((e) => e.eventId)))).toEqual({ rows: 20, distinct: 20, missing: 0, unexpected: 0 });
  }, 30_000);
});
