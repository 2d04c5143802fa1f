/**
 * `npm run bench:query` on a tiny data set (never timed: machines are noisy):
 * - the plan: exactly the rows asked for, Zipf-skewed, every tenant with its minimum;
 * - the generator on the real engine: every sampled row's `raw_proto` decodes, with the
 *   ingestor's `decodeEvent`, to exactly its columns; the events API (real HTTP, tenant tokens
 *   verified against a key set served over HTTP) answers each question as the same bound query
 *   answers it on the engine, and the comparison catches an answer that differs;
 * - the command itself (BENCH_QUERY_ROWS / _TENANTS small, no cache): exit 0, the last line one
 *   JSON object with the fields.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTierCatalog } from "../../config/index.js";
import { crashContextQuery } from "../../services/clickhouse-schema/index.js";
import { loadEventsApiConfig } from "../../services/events-api/src/config.js";
import { startEventsApi, type RunningEventsApi } from "../../services/events-api/src/service.js";
import { ADMIN, EmbeddedClickHouse } from "../support/chdb.js";
import { eventsApiEnv, holdEngine, TestTokenIssuer } from "../events-api/support.js";
import { checkGeneratedRows, compareAnswers, discover, loadDataset, planRequests, QUESTIONS, sampledRanks, tenantPlan, type SampledTenant } from "./query.js";

const execFileAsync = promisify(execFile);
const ROWS = 24_000;
const TENANTS = 120;

describe("the plan", () => {
  it("gives exactly the rows asked for, the k-th largest tenant about 1/k of the largest's share, every tenant its minimum", () => {
    const plan = tenantPlan(1_000_000, 1_000);
    expect(plan.reduce((n, t) => n + t.cnt, 0)).toBe(1_000_000);
    expect(plan.map((t) => t.first)).toEqual(plan.map((_, i) => plan.slice(0, i).reduce((n, t) => n + t.cnt, 0)));
    expect(new Set(plan.map((t) => t.tenant_id)).size).toBe(1_000);
    const [first, second, , , fifth] = plan as [(typeof plan)[number], (typeof plan)[number], unknown, unknown, (typeof plan)[number]];
    expect(first.cnt / second.cnt).toBeCloseTo(2, 1);
    expect(first.cnt / fifth.cnt).toBeCloseTo(5, 0);
    expect(Math.min(...plan.map((t) => t.cnt))).toBeGreaterThanOrEqual(20);
    expect(first.agents).toBeGreaterThan(plan[999]!.agents);
    expect(() => tenantPlan(100, 10)).toThrow(/cannot give 10 tenants 20 each/);
    expect(sampledRanks(10_000).slice(0, 6)).toEqual([1, 2, 3, 4, 5, 7]);
    expect(sampledRanks(10_000).at(-1)).toBe(10_000);
  });
});

describe("on the engine, through the events API", () => {
  let engine: EmbeddedClickHouse;
  let issuer: TestTokenIssuer;
  let dir: string;
  let held: { client: import("@clickhouse/client").ClickHouseClient; release: () => Promise<void> } | undefined;
  let api: RunningEventsApi | undefined;
  let sampled: SampledTenant[];
  const tokens = new Map<string, string>();
  const anchorMs = Math.floor(Date.now() / 60_000) * 60_000;

  beforeAll(async () => {
    engine = EmbeddedClickHouse.create({ catalog: loadTierCatalog() });
    await engine.as(ADMIN, async (client) => {
      await loadDataset(client, { rows: ROWS, tenants: TENANTS, progress: () => {} }, anchorMs);
      expect(await checkGeneratedRows(client, 500)).toBe(500);
    });
    held = await holdEngine(engine, { kind: "reader", tier: "enterprise" });
    const plan = tenantPlan(ROWS, TENANTS);
    sampled = await discover(held.client, sampledRanks(TENANTS).map((r) => plan[r - 1]!));
    issuer = await TestTokenIssuer.start();
    for (const t of sampled) tokens.set(t.spec.tenant_id, await issuer.mint({ tenantId: t.spec.tenant_id, planTier: "enterprise", role: "viewer" }));
    dir = mkdtempSync(join(tmpdir(), "bench-query-test-"));
    api = await startEventsApi(loadEventsApiConfig(eventsApiEnv(dir, { jwksUrl: issuer.jwksUrl, provisioningUrl: "http://127.0.0.1:9" })), {
      readers: { enterprise: held.client },
      dataKeys: null,
      host: "127.0.0.1",
      log: pino({ level: "silent" }),
    });
  }, 120_000);

  afterAll(async () => {
    await api?.stop();
    await issuer?.stop();
    await held?.release();
    await engine?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the API answers every question as the same bound query answers it on the engine", async () => {
    for (const [i, q] of QUESTIONS.entries()) {
      const requests = planRequests(q, sampled, anchorMs, 30, 10 + i);
      const result = await compareAnswers(held!.client, api!.url, tokens, requests);
      expect(result.compared, q).toBe(30);
      // The data set exercises each question: loops exist (every tenant's first loop is in the last hour), pages are full.
      expect(result.nonEmpty, q).toBeGreaterThan(q === "loops" ? 10 : 25);
    }
  });

  it("the comparison catches an answer that differs", async () => {
    const [r] = planRequests("crash_context", sampled.slice(0, 1), anchorMs, 1, 7);
    const other = sampled[0]!.agents.find((a) => !r!.path.includes(`/agents/${a}/`))!;
    // The API is asked about one agent, the engine about another.
    const tampered = { ...r!, query: crashContextQuery({ tenantId: r!.tenantId, agentId: other, before: r!.query.query_params["before"] as string, limit: 10 }) };
    await expect(compareAnswers(held!.client, api!.url, tokens, [tampered])).rejects.toThrow(/the API answered .*, the same query on the engine/);
  });
});

describe("npm run bench:query", () => {
  it("ends with one JSON object with the issue's fields, after checking the API against the engine", async () => {
    const { stdout } = await execFileAsync(process.execPath, ["--import", "tsx", "test/bench/query.ts"], {
      env: { ...process.env, BENCH_QUERY_ROWS: String(ROWS), BENCH_QUERY_TENANTS: String(TENANTS), BENCH_QUERY_CACHE: "off", BENCH_QUERY_REQUESTS: "48", BENCH_QUERY_WARMUP: "16", BENCH_QUERY_VERIFY: "12", BENCH_QUERY_SERIAL_REQUESTS: "6", BENCH_QUERY_ROUNDS: "2" },
      maxBuffer: 16 * 1024 * 1024,
    });
    const lines = stdout.trim().split("\n");
    const result = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(Object.keys(result).slice(0, 6)).toEqual(["rows", "tenants", "crash_context_p99_ms", "loops_p99_ms", "timeline_p99_ms", "overhead"]);
    expect(result).toMatchObject({ rows: ROWS, tenants: TENANTS, concurrency: 16, requests_per_question: 48, reused: false, errors: 0 });
    for (const key of ["crash_context_p99_ms", "loops_p99_ms", "timeline_p99_ms", "overhead", "crash_context_direct_p99_ms", "timeline_p50_ms"]) {
      expect(typeof result[key], key).toBe("number");
      expect(result[key] as number, key).toBeGreaterThan(0);
    }
    expect(result["answers_compared"] as number).toBeGreaterThanOrEqual(3 * 12);
    expect(typeof result["targets_met"]).toBe("boolean");
    expect(lines.some((l) => l.includes("API answers equal the direct ones"))).toBe(true);
  }, 180_000);
});
