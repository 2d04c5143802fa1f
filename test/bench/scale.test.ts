/**
 * `npm run bench:scale` at toy sizes (never timed: machines are noisy): the control-plane part
 * (bulk load through the service's transaction, the three operations on two stores) and the
 * minting part give figures of the right shape, every one a positive finite number; the load
 * writes exactly the tenants asked for, each owned by its derived owner; the options from the
 * environment refuse bad values naming the variable and the fix; the history part on two toy
 * data sets of even tenants gives its figures and refuses a run beyond the reader's quota. The
 * synth part is left to the command itself (two whole synths are not a unit test's cost).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenantPlan } from "./query.js";
import { measureControlPlane, mintRate, OPERATIONS, optionsFromEnv, SCALE_PARTS } from "./scale.js";
import { drawTenants, historyGrowth } from "./scale-history.js";
import { countTenants, inputOf, openStore, ownerOf, type OpenedStore } from "./scale/store.js";

const positive = (v: unknown) => typeof v === "number" && Number.isFinite(v) && v > 0;

describe("the control-plane part at 2,000 vs 200 tenants", () => {
  let large: OpenedStore | undefined;
  let small: OpenedStore | undefined;
  const quiet = () => {};

  beforeAll(async () => {
    large = await openStore({ tenants: 2_000, batch: 500, inflight: 2, cache: false, progress: quiet });
    small = await openStore({ tenants: 200, batch: 64, inflight: 1, cache: false, progress: quiet });
  }, 60_000);

  afterAll(async () => {
    for (const s of [large, small]) {
      await s?.close();
      s?.release();
    }
  });

  it("loads exactly the tenants asked for, each with its owner membership, and counts the load", async () => {
    const s = large!;
    expect(s.tenantIds).toHaveLength(2_000);
    expect(new Set(s.tenantIds).size).toBe(2_000);
    expect(await countTenants(s.store, 300)).toBe(2_000);
    for (const i of [0, 499, 500, 1_999]) {
      const { tenant, member } = await s.plane.authorize(ownerOf(i), s.tenantIds[i]!, "tenant.read");
      expect(tenant.slug).toBe(inputOf(i).slug);
      expect(member.role).toBe("owner");
      // Another tenant's owner is not a member.
      await expect(s.plane.authorize(ownerOf(i + 1), s.tenantIds[i]!, "tenant.read")).rejects.toThrow();
    }
    expect(s.reused).toBe(false);
    expect(positive(s.load.perSecond)).toBe(true);
    expect(s.disk.allocatedBytes).toBeGreaterThan(0);
    // Every record a new tenant writes is tallied, the pending outbox among them.
    expect(Object.keys(s.load.bytesPerTenantBySubspace).sort()).toEqual(["o", "slug", "t/m", "t/meta", "t/ol", "t/usage", "u", "uc"]);
    for (const v of Object.values(s.load.bytesPerTenantBySubspace)) expect(positive(v)).toBe(true);
  });

  it("measures the p50 and p99 of each operation on both stores and their growth", async () => {
    const r = await measureControlPlane(large!, small!, { samples: 60, warmup: 10, rounds: 4, progress: quiet });
    expect(r.large.tenants).toBe(2_000);
    expect(r.small.tenants).toBe(200);
    expect(r.samples).toBe(60);
    for (const op of OPERATIONS) {
      for (const v of [r.large.p50_us[op], r.large.p99_us[op], r.small.p50_us[op], r.small.p99_us[op], r.growth[op], r.p50Growth[op]]) expect(positive(v), op).toBe(true);
      expect(r.large.p99_us[op]).toBeGreaterThanOrEqual(r.large.p50_us[op]);
    }
  }, 30_000);
});

describe("the minting part", () => {
  it("mints on the provisioning path and gives a rate", async () => {
    const r = await mintRate({ mints: 200, progress: () => {} });
    expect(r.mints).toBe(200);
    for (const v of [r.perSecond, r.secondsPerMillion, r.p50_us, r.p99_us]) expect(positive(v)).toBe(true);
    expect(r.secondsPerMillion).toBeCloseTo(1e6 / r.perSecond, -1);
  });
});

describe("options from the environment", () => {
  it("defaults to the issue's sizes", () => {
    const o = optionsFromEnv({});
    expect(o).toMatchObject({ tenants: 1_000_000, small: 10_000, historySmall: 10_000, historyTenants: 100_000, historyRows: 100, cache: true });
    expect([...o.parts]).toEqual([...SCALE_PARTS]);
    expect([...optionsFromEnv({ BENCH_SCALE_PARTS: "store, mint" }).parts]).toEqual(["store", "mint"]);
    expect(optionsFromEnv({ BENCH_SCALE_CACHE: "off", BENCH_SCALE_TENANTS: "2000", BENCH_SCALE_SMALL: "200" })).toMatchObject({ cache: false, tenants: 2_000, small: 200 });
  });

  it("refuses bad values, naming the variable and the fix", () => {
    expect(() => optionsFromEnv({ BENCH_SCALE_TENANTS: "1e6x" })).toThrow(/^BENCH_SCALE_TENANTS = "1e6x" is not a whole number from 2 to .*Fix: set it to one, or unset it for 1000000\.$/);
    expect(() => optionsFromEnv({ BENCH_SCALE_TENANTS: "5000" })).toThrow(/BENCH_SCALE_SMALL defaults to 10000, which is not from 1 to 4999, below BENCH_SCALE_TENANTS\. Fix:/);
    expect(() => optionsFromEnv({ BENCH_SCALE_TENANTS: "5000", BENCH_SCALE_SMALL: "5000" })).toThrow(/^BENCH_SCALE_SMALL = "5000" is not a whole number from 1 to 4999, below BENCH_SCALE_TENANTS\. Fix:/);
    expect(() => optionsFromEnv({ BENCH_SCALE_SAMPLES: "20", BENCH_SCALE_ROUNDS: "21" })).toThrow(/^BENCH_SCALE_ROUNDS = "21" .* at most BENCH_SCALE_SAMPLES/);
    expect(() => optionsFromEnv({ BENCH_SCALE_BATCH: "0" })).toThrow(/^BENCH_SCALE_BATCH = "0" is not a whole number from 1 to 2000/);
    expect(() => optionsFromEnv({ BENCH_SCALE_HISTORY_TENANTS: "10000" })).toThrow(/^BENCH_SCALE_HISTORY_TENANTS = "10000" .* above BENCH_SCALE_HISTORY_SMALL/);
    expect(() => optionsFromEnv({ BENCH_SCALE_CACHE: "yes" })).toThrow(/^BENCH_SCALE_CACHE = "yes" is not on or off\. Fix:/);
    expect(() => optionsFromEnv({ BENCH_SCALE_PARTS: "store,synthesis" })).toThrow(/^BENCH_SCALE_PARTS = "store,synthesis" names no part "synthesis"\. Fix: list some of store,mint,synth,history/);
  });
});

describe("the history part", () => {
  it("shares the rows evenly when asked, and draws distinct tenants the same way every run", () => {
    const plan = tenantPlan(2_050, 100, "uniform");
    expect(plan.reduce((a, t) => a + t.cnt, 0)).toBe(2_050);
    expect(new Set(plan.map((t) => t.cnt))).toEqual(new Set([20, 21]));
    expect(plan.filter((t) => t.cnt === 21)).toHaveLength(50);
    // The default stays Zipf's law (bench:query's plan and cache key).
    const zipf = tenantPlan(2_050, 100);
    expect(zipf[0]!.cnt).toBeGreaterThan(zipf[99]!.cnt);
    const drawn = drawTenants(1_000, 300, 19);
    expect(new Set(drawn).size).toBe(300);
    expect(drawn.every((i) => Number.isInteger(i) && i >= 0 && i < 1_000)).toBe(true);
    expect(drawTenants(1_000, 300, 19)).toEqual(drawn);
    expect(drawTenants(10, 300, 19).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("measures the three questions on two data sets of even tenants and gives their growth", async () => {
    const lines: string[] = [];
    const r = await historyGrowth({ smallTenants: 40, largeTenants: 400, rowsPerTenant: 20, requests: 24, rounds: 2, warmup: 2, cache: false, progress: (l) => lines.push(l) });
    expect(r.tenants).toEqual({ small: 40, large: 400 });
    expect(positive(r.query_growth)).toBe(true);
    for (const size of ["40", "400"]) {
      for (const q of ["crash_context", "loops", "timeline"] as const) {
        expect(positive(r.p50_ms[size]![q]), `${size} ${q}`).toBe(true);
        expect(r.p99_ms[size]![q]).toBeGreaterThanOrEqual(r.p50_ms[size]![q]);
      }
      expect(r.reused[size]).toBe(false);
    }
    expect(r.query_growth).toBeCloseTo(r.pooled_p99_ms["400"]! / r.pooled_p99_ms["40"]!, 1);
    expect(lines.some((l) => l.includes("8,000 events of 400 tenants"))).toBe(true);
  }, 120_000);

  it("refuses a run the reader's quota would cut short, before loading anything", async () => {
    const lines: string[] = [];
    await expect(historyGrowth({ smallTenants: 10, largeTenants: 20, rowsPerTenant: 20, requests: 50_000, cache: false, progress: (l) => lines.push(l) })).rejects.toThrow(/more than the enterprise reader's quota of \d+ per 3600 s\. Fix: a lower BENCH_SCALE_HISTORY_REQUESTS/);
    expect(lines).toEqual([]);
  });
});
