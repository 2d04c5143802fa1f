/**
 * The events API's routes on the real ClickHouse engine (chdb, as the pro tier's reader) over
 * real HTTP, with tenant tokens signed like the provisioning service's and verified through a key
 * set served over HTTP: the registered routes are exactly EVENTS_API_ROUTES; every route needs a
 * valid tenant token; a viewer reads but does not replay; paging walks every row once, newest
 * first; filters; bad input is a 400 naming the field and the fix; the payload of one event;
 * crash context, loops, state history and usage against rows inserted here; the tier's limits
 * (result rows, quota) answered 429; metrics.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClickHouseError } from "@clickhouse/client";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import type { TierCatalog } from "../../config/tiers.js";
import { decision, signal, stateChange, stateHashOf } from "../../sdk/events.js";
import { schemaSql } from "../../services/clickhouse-schema/index.js";
import { EVENTS_API_HTTP_PATHS, EVENTS_API_METRICS, EVENTS_API_PAGE } from "../../services/events-api/contract.js";
import { queryErrorAnswer, queryErrorKind } from "../../services/events-api/src/clickhouse.js";
import { loadEventsApiConfig, type EventsApiConfig } from "../../services/events-api/src/config.js";
import { momentParam } from "../../services/events-api/src/http.js";
import { startEventsApi, type RunningEventsApi } from "../../services/events-api/src/service.js";
import { EVENTS_API_ROUTES, TENANT_ROLES, type TenantRole } from "../../services/identity/names.js";
import { ADMIN, EmbeddedClickHouse, rows } from "../support/chdb.js";
import { call, eventRow, eventsApiEnv, holdEngine, insertEvents, insertUsage, rfc3339Of, TEST_ISSUER, TestTokenIssuer, type Answer } from "./support.js";

const catalog = loadTierCatalog();
const TENANT = "delta-pro";
const OTHER = "echo-pro";
const FULL = "golf-pro";
const NOW = Date.now();
const STORED = new Date(NOW);
const TODAY = STORED.toISOString().slice(0, 10);
const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000);

// 54 events of the tenant: three share each timestamp (ties are broken by event id), two projects, two agents, three types.
const timeline = Array.from({ length: 54 }, (_, k) => {
  const when = at(3_000 - Math.floor(k / 3) * 60);
  const agentId = k % 2 === 0 ? "agent-a" : "agent-b";
  const projectId = k % 4 < 2 ? "web" : "api";
  const draft =
    k % 3 === 0
      ? decision({ agentId, confidence: 0.9, rationale: `because ${k}`, action: `act-${k}`, alternatives: [`alt-${k}`], timestamp: when, projectId })
      : k % 3 === 1
        ? stateChange({ agentId, resource: `src/file-${k % 5}.ts`, change: "modified", stateHash: stateHashOf(`t-${k}`), previousStateHash: stateHashOf(`t-${k - 1}`), summary: `edit ${k}`, timestamp: when, projectId })
        : signal({ agentId, signal: "heartbeat", message: `alive ${k}`, timestamp: when, projectId });
  return eventRow(draft, TENANT, { storedAt: STORED });
});
// A resource with twelve states (the last one a deletion), for the state history and loops.
const HISTORY_RESOURCE = "src/loop.ts";
const history = Array.from({ length: 12 }, (_, k) =>
  eventRow(
    stateChange({ agentId: k % 2 ? "agent-a" : "agent-c", resource: HISTORY_RESOURCE, change: k === 11 ? "deleted" : k === 0 ? "created" : "modified", stateHash: k === 11 ? "" : stateHashOf(`loop-${k % 4}`), summary: `loop ${k}`, timestamp: at(1_200 - k * 30), projectId: "web" }),
    TENANT,
    { storedAt: STORED },
  ),
);
const otherEvents = [eventRow(decision({ agentId: "agent-a", confidence: 0.1, rationale: "not yours", action: "no", timestamp: at(100) }), OTHER, { storedAt: STORED })];
const ALL = [...timeline, ...history];

const monthStart = `${TODAY.slice(0, 8)}01`;
const lastMonth = new Date(Date.UTC(STORED.getUTCFullYear(), STORED.getUTCMonth(), 0)).toISOString().slice(0, 10);

let engine: EmbeddedClickHouse;
let issuer: TestTokenIssuer;
let dir: string;
let config: EventsApiConfig;
let held: { release: () => Promise<void> } | undefined;
let svc: RunningEventsApi;
/** The engine's own order of the tenant's events: (timestamp, event_id) descending. */
let truthOrder: string[];

const token = (role: TenantRole = "viewer", tenantId = TENANT) => issuer.mint({ tenantId, planTier: "pro", role });
const get = async <B = Record<string, unknown>>(path: string, role: TenantRole = "viewer"): Promise<Answer<B>> => call<B>(svc.url, "GET", path, { token: await token(role) });
type ErrorBody = { error: { code: string; message: string; field?: string } };

async function serve(o: { catalog?: TierCatalog } = {}): Promise<void> {
  const h = await holdEngine(engine, { kind: "reader", tier: "pro" }, o.catalog);
  held = h;
  svc = await startEventsApi(config, { readers: { pro: h.client }, dataKeys: null, host: "127.0.0.1", log: pino({ level: "silent" }), catalog: o.catalog ?? catalog });
}

async function unserve(): Promise<void> {
  await svc?.stop();
  await held?.release();
  held = undefined;
}

beforeAll(async () => {
  engine = EmbeddedClickHouse.create({ catalog });
  issuer = await TestTokenIssuer.start();
  dir = mkdtempSync(join(tmpdir(), "events-api-routes-"));
  config = loadEventsApiConfig(eventsApiEnv(dir, { jwksUrl: issuer.jwksUrl, provisioningUrl: "http://127.0.0.1:9" }));
  truthOrder = await engine.as(ADMIN, async (c) => {
    for (const s of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await c.command({ query: s });
    await insertEvents(c, [...ALL, ...otherEvents]);
    const usage = [
      { tenant_id: TENANT, day: TODAY, events: 40, rejected_quota: 5, rejected_expired: 2 },
      { tenant_id: TENANT, day: lastMonth, events: 1_000, rejected_quota: 99, rejected_expired: 99 },
      { tenant_id: FULL, day: TODAY, events: catalog.pro.events.perDay, rejected_quota: 12, rejected_expired: 0 },
      { tenant_id: OTHER, day: TODAY, events: 7, rejected_quota: 70, rejected_expired: 700 },
    ];
    if (monthStart !== TODAY) usage.push({ tenant_id: TENANT, day: monthStart, events: 100, rejected_quota: 7, rejected_expired: 1 });
    await insertUsage(c, usage);
    const order = await rows<{ event_id: string }>(c, { query: "SELECT event_id FROM enchanted.swarm_events FINAL WHERE tenant_id = {t:String} ORDER BY timestamp DESC, event_id DESC", query_params: { t: TENANT } });
    return order.map((r) => r.event_id);
  });
  await serve();
});

afterAll(async () => {
  await unserve();
  await issuer?.stop();
  await engine?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The routes fastify registered (printRoutes), HEAD aside. */
function routesOf(s: RunningEventsApi): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  const stack: string[] = [];
  for (const line of s.app.printRoutes({ commonPrefix: false }).split("\n")) {
    const m = /^(.*?)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (!m) continue;
    const depth = (m[1] as string).length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? "") + (m[2] as string);
    stack.push(path);
    for (const method of (m[3] as string).split(", ")) if (method !== "HEAD") out.push({ method, path });
  }
  return out;
}

/** A path of each route with its parameters filled in. */
const SAMPLE = (url: string) => url.replace(":agentId", "agent-a").replace(":eventId", timeline[0]!.event_id).replace(":projectId", "web") + (url.endsWith("state-history") ? `?resource=${HISTORY_RESOURCE}` : "");

describe("routes and authentication", () => {
  it("registers exactly EVENTS_API_ROUTES and the probes", () => {
    const registered = routesOf(svc).map((r) => `${r.method} ${r.path}`).sort();
    const expected = [...EVENTS_API_ROUTES.map((r) => `${r.method} ${r.url}`), ...Object.values(EVENTS_API_HTTP_PATHS).map((p) => `GET ${p}`)].sort();
    expect(registered).toEqual(expected);
  });

  it("refuses every route without a valid tenant token (401, before a body is read), and unmatched paths too", async () => {
    const stranger = await TestTokenIssuer.start();
    try {
      const bad: Record<string, string | undefined> = {
        none: undefined,
        garbage: "not-a-token",
        "another key": await stranger.mint({ tenantId: TENANT, planTier: "pro", role: "owner" }),
        "another issuer": await issuer.mint({ tenantId: TENANT, planTier: "pro", role: "owner", issuer: "https://elsewhere.test" }),
        "another audience": await issuer.mint({ tenantId: TENANT, planTier: "pro", role: "owner", audience: "api" }),
        expired: await issuer.mint({ tenantId: TENANT, planTier: "pro", role: "owner", shiftSeconds: -1_000 }),
      };
      for (const r of EVENTS_API_ROUTES) {
        for (const [why, t] of Object.entries(bad)) {
          const res = await call<ErrorBody>(svc.url, r.method, SAMPLE(r.url), { ...(t ? { token: t } : {}), ...(r.method === "POST" ? { rawBody: "{not json" } : {}) });
          expect(res.status, `${r.method} ${r.url} with ${why}`).toBe(401);
          expect(res.body.error.code).toBe("unauthorized");
          expect(res.headers.get("www-authenticate")).toBe('Bearer error="invalid_token"');
        }
      }
      expect((await call(svc.url, "GET", "/v2/events")).status).toBe(401);
      expect((await call(svc.url, "GET", "/v2/events", { token: await token() })).status).toBe(404);
      expect((await call(svc.url, "GET", "/%68ealthz")).status).toBe(200);
      expect(TEST_ISSUER).toBe(config.tokens.issuer);
    } finally {
      await stranger.stop();
    }
  });

  it("lets every role read, and only members and above replay (the role the token names)", async () => {
    const unknownHash = stateHashOf("never");
    for (const role of TENANT_ROLES) {
      for (const r of EVENTS_API_ROUTES.filter((x) => x.method === "GET")) {
        const res = await get(SAMPLE(r.url), role);
        expect(res.status, `${role} ${r.url}: ${res.text}`).toBe(200);
      }
      const replay = await call<ErrorBody>(svc.url, "POST", "/v1/projects/web/replays", { token: await token(role), body: { resource: HISTORY_RESOURCE, stateHash: unknownHash } });
      if (role === "viewer") {
        expect(replay.status).toBe(403);
        expect(replay.body.error).toEqual({ code: "forbidden", message: "jobs.submit needs the member role or stronger; your token's role is viewer" });
      } else {
        // Allowed: the lookup runs (and finds no such state).
        expect(replay.status, `${role}: ${replay.text}`).toBe(404);
      }
    }
  });

  it("refuses a replay to a moment the resource was deleted at: no content to go back to, the known states listed", async () => {
    const member = await token("member");
    const res = await call<{ error: { field: string; message: string; knownHashes: { stateHash: string }[] } }>(svc.url, "POST", "/v1/projects/web/replays", { token: member, body: { resource: HISTORY_RESOURCE, at: new Date(NOW).toISOString() } });
    expect(res.status, res.text).toBe(404);
    expect(res.body.error.field).toBe("body.at");
    expect(res.body.error.message).toContain(`was deleted at ${new Date(NOW).toISOString()} (by event ${history[11]!.event_id})`);
    // The four states it was in, the most recently entered first (loop-2 at k=10, loop-1 at 9, loop-0 at 8, loop-3 at 7).
    expect(res.body.error.knownHashes.map((k) => k.stateHash)).toEqual([2, 1, 0, 3].map((k) => stateHashOf(`loop-${k}`)));
  });

  it("answers 503 for a tier whose reader this deployment lacks", async () => {
    const res = await call<ErrorBody>(svc.url, "GET", "/v1/events", { token: await issuer.mint({ tenantId: "hotel-free", planTier: "free", role: "owner" }) });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("unavailable");
  });
});

describe("timeline", () => {
  it("walks every event exactly once, newest first, page by page with the opaque cursor", async () => {
    const seen: string[] = [];
    const stamps: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: Answer<{ events: { eventId: string; timestamp: string }[]; nextCursor: string | null }> = await get(`/v1/events?limit=7${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status, res.text).toBe(200);
      expect(res.body.events.length).toBeLessThanOrEqual(7);
      seen.push(...res.body.events.map((e) => e.eventId));
      stamps.push(...res.body.events.map((e) => e.timestamp));
      cursor = res.body.nextCursor;
      if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      pages++;
    } while (cursor && pages < 50);
    expect(seen).toEqual(truthOrder);
    expect(new Set(seen).size).toBe(ALL.length);
    expect(pages).toBe(Math.ceil(ALL.length / 7));
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]! <= stamps[i - 1]!, `${stamps[i]} after ${stamps[i - 1]}`).toBe(true);
    // A full page of exactly the rest has no next cursor.
    const all = await get<{ events: unknown[]; nextCursor: string | null }>(`/v1/events?limit=${ALL.length}`);
    expect(all.body.events).toHaveLength(ALL.length);
    expect(all.body.nextCursor).toBeNull();
    // The default page size.
    expect((await get<{ events: unknown[] }>(`/v1/events`)).body.events).toHaveLength(Math.min(ALL.length, EVENTS_API_PAGE.default));
  });

  it("filters by project, agent, event type and time range (from inclusive, to exclusive), also while paging", async () => {
    const ids = async (query: string) => {
      const out: string[] = [];
      let cursor: string | null = null;
      do {
        const res: Answer<{ events: { eventId: string }[]; nextCursor: string | null }> = await get(`/v1/events?limit=5&${query}${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status, res.text).toBe(200);
        out.push(...res.body.events.map((e) => e.eventId));
        cursor = res.body.nextCursor;
      } while (cursor);
      return out.sort();
    };
    const expectIds = (pred: (r: (typeof ALL)[number]) => boolean) => ALL.filter(pred).map((r) => r.event_id).sort();
    expect(await ids("projectId=api")).toEqual(expectIds((r) => r.project_id === "api"));
    expect(await ids("agentId=agent-b")).toEqual(expectIds((r) => r.agent_id === "agent-b"));
    expect(await ids("eventType=system_signal")).toEqual(expectIds((r) => r.event_type === "system_signal"));
    expect(await ids("eventType=decision&projectId=web&agentId=agent-a")).toEqual(expectIds((r) => r.event_type === "decision" && r.project_id === "web" && r.agent_id === "agent-a"));
    const from = timeline[9]!.timestamp;
    const to = timeline[30]!.timestamp;
    expect(await ids(`from=${rfc3339Of(from)}&to=${rfc3339Of(to)}`)).toEqual(expectIds((r) => r.timestamp >= from && r.timestamp < to));
    // The same moment with an offset.
    const shifted = new Date(Date.parse(rfc3339Of(to)) + 2 * 3_600_000).toISOString().replace("Z", "+02:00");
    expect(await ids(`to=${encodeURIComponent(shifted)}`)).toEqual(expectIds((r) => r.timestamp < to));
    expect(await ids("projectId=nothing-here")).toEqual([]);
  });

  it("answers each event in the API's names; an encrypted one without a data-key source keeps its payload sealed", async () => {
    const res = await get<{ events: Record<string, unknown>[] }>(`/v1/events?limit=3&eventType=decision&agentId=agent-a`);
    const d = timeline.find((r) => r.event_id === res.body.events[0]!.eventId)!;
    expect(res.body.events[0]).toEqual({
      eventId: d.event_id,
      timestamp: rfc3339Of(d.timestamp),
      eventType: "decision",
      agentId: "agent-a",
      agentRole: null,
      userId: "member-1",
      projectId: d.project_id,
      encrypted: false,
      confidenceScore: expect.closeTo(0.9, 5),
      rationale: d.rationale,
      targetResource: null,
      stateHash: null,
      traceId: null,
      spanId: null,
    });
  });
});

describe("one event", () => {
  it("answers the payload from the stored event: decision, state change, signal", async () => {
    const [dec, change, sig] = [timeline[0]!, timeline[1]!, timeline[2]!];
    const one = async (id: string) => (await get<{ event: Record<string, unknown> }>(`/v1/events/${id}`)).body.event;
    expect(await one(dec.event_id)).toMatchObject({ eventId: dec.event_id, eventType: "decision", encrypted: false, payload: { kind: "decision", rationale: "because 0", action: "act-0", alternatives: ["alt-0"] } });
    expect(await one(change.event_id)).toMatchObject({ eventType: "state_change", stateHash: stateHashOf("t-1"), payload: { kind: "state_change", targetResource: "src/file-1.ts", stateHash: stateHashOf("t-1"), previousStateHash: stateHashOf("t-0"), change: "modified", summary: "edit 1" } });
    expect(await one(sig.event_id)).toMatchObject({ eventType: "system_signal", payload: { kind: "system_signal", signal: "heartbeat", message: "alive 2" } });
    const deleted = await one(history[11]!.event_id);
    expect(deleted).toMatchObject({ stateHash: "", payload: { kind: "state_change", change: "deleted", stateHash: "" } });
    // Another tenant's event of the same tier: not found, like a missing one.
    const foreign = await get<ErrorBody>(`/v1/events/${otherEvents[0]!.event_id}`);
    expect(foreign.status).toBe(404);
    expect(foreign.body.error).toEqual({ code: "not_found", message: "event not found", field: "params.eventId" });
  });
});

describe("crash context, loops, state history, usage", () => {
  it("crash context: the agent's decisions before the moment, newest first, at most limit", async () => {
    const before = timeline[30]!.timestamp;
    const res = await get<{ agentId: string; before: string; decisions: { eventId: string; rationale: string; confidenceScore: number }[] }>(`/v1/agents/agent-a/crash-context?before=${rfc3339Of(before)}&limit=3`);
    expect(res.status, res.text).toBe(200);
    const expected = timeline.filter((r) => r.event_type === "decision" && r.agent_id === "agent-a" && r.timestamp < before);
    const order = truthOrder.filter((id) => expected.some((r) => r.event_id === id)).slice(0, 3);
    expect(res.body.decisions.map((d) => d.eventId)).toEqual(order);
    expect(res.body.before).toBe(rfc3339Of(before));
    expect(res.body.decisions[0]!.rationale).toMatch(/^because \d+$/);
    // Without `before`: up to now.
    const now = await get<{ decisions: unknown[] }>(`/v1/agents/agent-a/crash-context?limit=1000`);
    expect(now.body.decisions).toHaveLength(timeline.filter((r) => r.event_type === "decision" && r.agent_id === "agent-a").length);
  });

  it("loops: resources changed more than minModifications times in the window", async () => {
    // src/loop.ts changed 12 times in the last 1200 s; src/file-*.ts at most 4 times each.
    const loops = await get<{ loops: { resource: string; modifications: number; agents: number }[] }>(`/v1/loops?windowSeconds=3600&minModifications=5`);
    expect(loops.status, loops.text).toBe(200);
    expect(loops.body.loops).toEqual([expect.objectContaining({ projectId: "web", resource: HISTORY_RESOURCE, modifications: 12, agents: 2 })]);
    expect((await get<{ loops: unknown[] }>(`/v1/loops?windowSeconds=3600&minModifications=12`)).body.loops).toEqual([]);
    // A window that ends before the changes.
    expect((await get<{ loops: unknown[] }>(`/v1/loops?until=${at(1_300).toISOString()}&windowSeconds=600&minModifications=0`)).body.loops).toEqual([]);
  });

  it("state history: every state of the resource, newest first, paged, deletions marked", async () => {
    const seen: { eventId: string; stateHash: string; deleted: boolean; agentId: string }[] = [];
    let cursor: string | null = null;
    do {
      const res: Answer<{ states: typeof seen; nextCursor: string | null }> = await get(`/v1/projects/web/state-history?resource=${encodeURIComponent(HISTORY_RESOURCE)}&limit=5${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status, res.text).toBe(200);
      seen.push(...res.body.states);
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen.map((s) => s.eventId)).toEqual([...history].reverse().map((r) => r.event_id));
    expect(seen[0]).toMatchObject({ stateHash: "", deleted: true });
    expect(seen.slice(1).every((s) => !s.deleted && /^[0-9a-f]{64}$/.test(s.stateHash))).toBe(true);
    expect((await get<{ states: unknown[] }>(`/v1/projects/api/state-history?resource=${encodeURIComponent(HISTORY_RESOURCE)}`)).body.states).toEqual([]);
  });

  it("usage: today's and this month's events and refusals against the tier's allowance", async () => {
    const res = await get<Record<string, unknown>>(`/v1/usage`);
    expect(res.status, res.text).toBe(200);
    const firstOfMonth = monthStart !== TODAY;
    const today = 40 + ALL.length; // the usage row, and every event stored today (the view counts them)
    expect(res.body).toEqual({
      planTier: "pro",
      day: TODAY,
      month: TODAY.slice(0, 7),
      events: { today, thisMonth: today + (firstOfMonth ? 100 : 0), allowancePerDay: catalog.pro.events.perDay, remainingToday: catalog.pro.events.perDay - today },
      overQuota: false,
      rejected: { quota: { today: 5, thisMonth: 5 + (firstOfMonth ? 7 : 0) }, expired: { today: 2, thisMonth: 2 + (firstOfMonth ? 1 : 0) } },
    });
    const full = await call<{ overQuota: boolean; events: { today: number; remainingToday: number }; rejected: { quota: { today: number } } }>(svc.url, "GET", "/v1/usage", { token: await token("viewer", FULL) });
    expect(full.body).toMatchObject({ overQuota: true, events: { today: catalog.pro.events.perDay, remainingToday: 0 }, rejected: { quota: { today: 12 } } });
  });
});

describe("bad input: 400 naming the field and the fix", () => {
  const cases: [method: string, path: string, field: string, body?: unknown][] = [
    ["GET", "/v1/events?limit=0", "querystring.limit"],
    ["GET", `/v1/events?limit=${EVENTS_API_PAGE.max + 1}`, "querystring.limit"],
    ["GET", "/v1/events?limit=ten", "querystring.limit"],
    ["GET", "/v1/events?limit=1&limit=2", "querystring.limit"],
    ["GET", "/v1/events?cursor=not%20a%20cursor", "querystring.cursor"],
    ["GET", `/v1/events?cursor=${Buffer.from(JSON.stringify({ v: 1, t: "yesterday", e: "x" })).toString("base64url")}`, "querystring.cursor"],
    ["GET", "/v1/events?eventType=thought", "querystring.eventType"],
    ["GET", "/v1/events?from=2025-02-30T00:00:00Z", "querystring.from"],
    ["GET", "/v1/events?from=yesterday", "querystring.from"],
    ["GET", "/v1/events?from=2025-11-21T15:00:00", "querystring.from"],
    ["GET", "/v1/events?from=2025-11-21T15:00:00Z&to=2025-11-21T14:00:00Z", "querystring.to"],
    ["GET", "/v1/events?projectId=a.b", "querystring.projectId"],
    ["GET", "/v1/events?agentId=-x", "querystring.agentId"],
    ["GET", "/v1/events?tenantId=echo-pro", "querystring.tenantId"],
    ["GET", "/v1/events/not-a-uuid", "params.eventId"],
    ["GET", `/v1/events/${timeline[0]!.event_id.toUpperCase()}`, "params.eventId"],
    ["GET", "/v1/agents/-agent/crash-context", "params.agentId"],
    ["GET", "/v1/agents/agent-a/crash-context?before=now", "querystring.before"],
    ["GET", "/v1/agents/agent-a/crash-context?limit=0", "querystring.limit"],
    ["GET", "/v1/loops?windowSeconds=0", "querystring.windowSeconds"],
    ["GET", "/v1/loops?minModifications=-1", "querystring.minModifications"],
    ["GET", "/v1/loops?until=1732200000", "querystring.until"],
    ["GET", "/v1/projects/web/state-history", "querystring.resource"],
    ["GET", `/v1/projects/web/state-history?resource=${"x".repeat(1_025)}`, "querystring.resource"],
    ["GET", "/v1/projects/a.b/state-history?resource=x", "params.projectId"],
    ["GET", "/v1/usage?tier=enterprise", "querystring.tier"],
    ["POST", "/v1/projects/web/replays", "body.resource", {}],
    ["POST", "/v1/projects/web/replays", "body.stateHash", { resource: "x" }],
    ["POST", "/v1/projects/web/replays", "body.at", { resource: "x", stateHash: stateHashOf("a"), at: "2025-11-21T15:00:00Z" }],
    ["POST", "/v1/projects/web/replays", "body.stateHash", { resource: "x", stateHash: "ABC" }],
    ["POST", "/v1/projects/web/replays", "body.at", { resource: "x", at: "2025-13-01T00:00:00Z" }],
    ["POST", "/v1/projects/web/replays", "body.tenantId", { resource: "x", at: "2025-11-01T00:00:00Z", tenantId: OTHER }],
    ["POST", "/v1/projects/web/replays", "body", "{not json"],
    ["POST", "/v1/projects/a.b/replays", "params.projectId", { resource: "x", at: "2025-11-01T00:00:00Z" }],
  ];
  for (const [method, path, field, body] of cases) {
    it(`${method} ${path.slice(0, 90)} → ${field}`, async () => {
      const res = await call<ErrorBody>(svc.url, method, path, { token: await token("owner"), ...(typeof body === "string" ? { rawBody: body } : body !== undefined ? { body } : {}) });
      expect(res.status, res.text).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.field).toBe(field);
      expect(res.body.error.message.startsWith(field), res.body.error.message).toBe(true);
      // The message says what to do: a fix after the problem.
      expect(res.body.error.message, res.body.error.message).toMatch(/: [a-z]/i);
    });
  }

  it("refuses a body that is not JSON with 415, and one over the limit with 413", async () => {
    const text = await call<ErrorBody>(svc.url, "POST", "/v1/projects/web/replays", { token: await token("owner"), rawBody: "resource=x", headers: { "content-type": "text/plain" } });
    expect(text.status).toBe(415);
    const big = await call<ErrorBody>(svc.url, "POST", "/v1/projects/web/replays", { token: await token("owner"), body: { resource: "x".repeat(config.bodyLimitBytes) } });
    expect(big.status).toBe(413);
  });

  it("reads RFC 3339 times to the microsecond, in any zone", () => {
    expect(momentParam("f", "2025-11-21T15:00:00Z")).toBe("2025-11-21 15:00:00.000000");
    expect(momentParam("f", "2025-11-21T16:30:00.1234567+01:30")).toBe("2025-11-21 15:00:00.123456");
    expect(momentParam("f", "2025-11-21T00:00:00-02:00")).toBe("2025-11-21 02:00:00.000000");
    expect(() => momentParam("f", "2024-02-30T00:00:00Z")).toThrow(/f = "2024-02-30T00:00:00Z" is not a time/);
    expect(momentParam("f", "2024-02-29T23:59:59Z")).toBe("2024-02-29 23:59:59.000000");
  });
});

describe("probes and metrics", () => {
  it("is ready while its reader answers, and exports query latency by route and tier", async () => {
    expect((await call(svc.url, "GET", EVENTS_API_HTTP_PATHS.ready)).status).toBe(200);
    expect((await call(svc.url, "GET", EVENTS_API_HTTP_PATHS.health)).status).toBe(200);
    await get(`/v1/events?limit=1`);
    const text = (await call<string>(svc.url, "GET", EVENTS_API_HTTP_PATHS.metrics)).text;
    const count = new RegExp(`^${EVENTS_API_METRICS.queryDuration.name}_count\\{route="/v1/events",tier="pro"\\} (\\d+)$`, "m").exec(text);
    expect(Number(count?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(new RegExp(`^${EVENTS_API_METRICS.requests.name}\\{route="/v1/events",method="GET",status="200"\\} \\d+$`, "m"));
    expect(text).toMatch(new RegExp(`^${EVENTS_API_METRICS.requests.name}\\{route="/v1/events",method="GET",status="400"\\} \\d+$`, "m"));
  });
});

describe("the tier's limits, enforced by the engine, answered 429 / 504", () => {
  /** The catalog with the pro tier's reader limits changed. */
  const tight = (profile: Partial<TierCatalog["pro"]["clickhouse"]["profile"]>, quota: Partial<TierCatalog["pro"]["clickhouse"]["quota"]> = {}): TierCatalog => ({
    ...catalog,
    pro: { ...catalog.pro, clickhouse: { profile: { ...catalog.pro.clickhouse.profile, ...profile }, quota: { ...catalog.pro.clickhouse.quota, ...quota } } },
  });

  it("a result over the plan's max_result_rows is 429 query_too_large, naming the limit and what to do", async () => {
    await unserve();
    await serve({ catalog: tight({ maxResultRows: 10 }) });
    try {
      const ok = await get(`/v1/events?limit=5`);
      expect(ok.status, ok.text).toBe(200);
      const res = await get<ErrorBody>(`/v1/events?limit=50`);
      expect(res.status, res.text).toBe(429);
      expect(res.body.error.code).toBe("query_too_large");
      expect(res.body.error.message).toContain("10 result rows");
      const metrics = (await call<string>(svc.url, "GET", EVENTS_API_HTTP_PATHS.metrics)).text;
      expect(metrics).toMatch(new RegExp(`^${EVENTS_API_METRICS.queryErrors.name}\\{route="/v1/events",tier="pro",kind="too_many_rows"\\} 1$`, "m"));
    } finally {
      await unserve();
      await serve();
    }
  });

  it("a used-up query quota is 429 quota_exceeded with Retry-After", async () => {
    await unserve();
    await serve({ catalog: tight({}, { queries: 4, intervalSeconds: 3_600 }) });
    try {
      // The embedded engine counts every query of its session against the quota (no per-query quota key).
      const statuses: number[] = [];
      let last: Answer<ErrorBody> | undefined;
      for (let i = 0; i < 8; i++) {
        last = await get<ErrorBody>(`/v1/usage`);
        statuses.push(last.status);
      }
      expect(statuses[0]).toBe(200);
      const first = statuses.indexOf(429);
      expect(first, statuses.join(",")).toBeGreaterThan(0);
      expect(statuses.slice(first).every((s) => s === 429), statuses.join(",")).toBe(true);
      expect(last!.body.error.code).toBe("quota_exceeded");
      expect(last!.headers.get("retry-after")).toBe("3600");
    } finally {
      await unserve();
      await serve();
    }
  });

  it("maps ClickHouse's time limit and a client timeout to 504, anything else to a 500", () => {
    const timeout = new ClickHouseError({ message: "Timeout exceeded: elapsed 31 seconds, maximum: 30", code: "159", type: "TIMEOUT_EXCEEDED" });
    expect(queryErrorKind(timeout)).toBe("timeout");
    expect(queryErrorAnswer("timeout", "pro", catalog)?.statusCode).toBe(504);
    expect(queryErrorKind(new Error("Timeout error."))).toBe("timeout");
    expect(queryErrorKind(Object.assign(new Error("aborted"), { name: "TimeoutError" }))).toBe("timeout");
    expect(queryErrorKind(new ClickHouseError({ message: "limit", code: "202", type: "TOO_MANY_SIMULTANEOUS_QUERIES" }))).toBe("concurrency");
    expect(queryErrorKind(new ClickHouseError({ message: "Syntax error", code: "62", type: "SYNTAX_ERROR" }))).toBe("unexpected");
    expect(queryErrorAnswer("unexpected", "pro", catalog)).toBeUndefined();
  });
});
