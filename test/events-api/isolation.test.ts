/**
 * The events API's isolation matrix (acceptance), on the real ClickHouse engine (chdb) and real
 * HTTP: three tenants, one per plan tier, with look-alike histories (the same project, agents and
 * resource). Each tier's service runs as that tier's reader (the engine's configuration user with
 * the tier's profile, quota and the bound-tenant row policy), and every route is called with each
 * tenant's token: every answer holds that tenant's rows and nothing else, another tenant's event
 * id is 404, another tenant's state is unknown to a replay, and no route takes a tenant from its
 * path or query.
 *
 * The second guard: every query the API sends, with its `tenant_id = …` condition stripped, still
 * returns exactly the bound tenant's rows through the reader (the row policy), while the same
 * stripped SQL as the administrator returns other tenants' rows (so the strip is real), and
 * unbound it returns none.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import type { PlanTierName } from "../../config/tiers.js";
import { decision, signal, stateChange, stateHashOf } from "../../sdk/events.js";
import {
  crashContextQuery,
  eventQuery,
  formatDateTime64,
  hallucinationLoopsQuery,
  knownHashesQuery,
  readerQuerySettings,
  schemaSql,
  stateAtQuery,
  stateByHashQuery,
  stateHistoryQuery,
  TENANT_FILTER_SQL,
  timelineQuery,
  usageQuery,
  type BoundQuery,
  type SwarmEventRow,
} from "../../services/clickhouse-schema/index.js";
import { loadEventsApiConfig } from "../../services/events-api/src/config.js";
import { startEventsApi } from "../../services/events-api/src/service.js";
import { ADMIN, EmbeddedClickHouse, rows } from "../support/chdb.js";
import { call, eventRow, eventsApiEnv, insertEvents, insertUsage, rfc3339Of, TestTokenIssuer } from "./support.js";

const catalog = loadTierCatalog();
const PROJECT = "web";
const RESOURCE = "src/app.ts";
const NOW = Date.now();
const STORED = new Date(NOW);
const TODAY = STORED.toISOString().slice(0, 10);

interface Tenant {
  readonly id: string;
  readonly tier: PlanTierName;
  readonly events: SwarmEventRow[];
  readonly decisions: SwarmEventRow[];
  readonly states: SwarmEventRow[];
  readonly rejectedQuota: number;
  readonly rejectedExpired: number;
}

const TENANTS: Tenant[] = (
  [
    ["acme-free", "free"],
    ["bolt-pro", "pro"],
    ["core-enterprise", "enterprise"],
  ] as const
).map(([id, tier], i) => {
  const at = (minutesAgo: number) => new Date(NOW - minutesAgo * 60_000);
  const decisions = Array.from({ length: 6 }, (_, k) =>
    eventRow(decision({ agentId: "architect-1", agentRole: "architect", confidence: 0.5 + k / 20, rationale: `${id} chose plan ${k}`, action: `plan-${k}`, timestamp: at(50 - k) }), id, { storedAt: STORED }),
  );
  const states = Array.from({ length: 8 }, (_, k) =>
    eventRow(stateChange({ agentId: "coder-1", agentRole: "coder", resource: RESOURCE, change: k === 0 ? "created" : "modified", stateHash: stateHashOf(`${id}-state-${k}`), summary: `${id} edit ${k}`, timestamp: at(40 - k) }), id, { storedAt: STORED }),
  );
  const crash = eventRow(signal({ agentId: "architect-1", signal: "crashed", message: `${id} ran out of memory`, timestamp: at(5) }), id, { storedAt: STORED });
  return { id, tier, decisions, states, events: [...decisions, ...states, crash], rejectedQuota: 10 * (i + 1), rejectedExpired: i + 1 };
});

/** Newest first, as every list of the API is ordered (timestamp, then event id, both descending, as ClickHouse orders). */
const newestFirst = (rs: readonly SwarmEventRow[]) => [...rs].sort((a, b) => (a.timestamp === b.timestamp ? 0 : a.timestamp < b.timestamp ? 1 : -1));
const idsOf = (rs: readonly { event_id: string }[]) => rs.map((r) => r.event_id);

let engine: EmbeddedClickHouse;
let issuer: TestTokenIssuer;
let dir: string;
/** What the administrator sees of each query with its tenant filter stripped (by tenant, by query name). */
const adminStripped = new Map<string, number>();

/** Every query the API sends for a tenant, by name. */
function queriesOf(t: Tenant, foreign: Tenant): Record<string, BoundQuery> {
  const until = formatDateTime64(BigInt(NOW + 60_000) * 1000n);
  return {
    timeline: timelineQuery({ tenantId: t.id, limit: 1_000 }),
    ownEvent: eventQuery({ tenantId: t.id, eventId: t.events[0]!.event_id }),
    foreignEvent: eventQuery({ tenantId: t.id, eventId: foreign.events[0]!.event_id }),
    stateHistory: stateHistoryQuery({ tenantId: t.id, projectId: PROJECT, resource: RESOURCE, limit: 1_000 }),
    foreignHash: stateByHashQuery({ tenantId: t.id, projectId: PROJECT, resource: RESOURCE, stateHash: foreign.states[3]!.state_hash }),
    stateAt: stateAtQuery({ tenantId: t.id, projectId: PROJECT, resource: RESOURCE, at: until }),
    knownHashes: knownHashesQuery({ tenantId: t.id, projectId: PROJECT, resource: RESOURCE, limit: 1_000 }),
    crashContext: crashContextQuery({ tenantId: t.id, agentId: "architect-1", before: until, limit: 1_000 }),
    loops: hallucinationLoopsQuery({ tenantId: t.id, until, windowSeconds: 7_200, minModifications: 0, limit: 1_000 }),
    usage: usageQuery({ tenantId: t.id, today: STORED }),
  };
}

/** The same query with its tenant condition removed (the condition must be there, once). */
function stripped(q: BoundQuery): BoundQuery {
  const at = q.query.indexOf(TENANT_FILTER_SQL);
  expect(at, q.query).toBeGreaterThan(0);
  expect(q.query.indexOf(TENANT_FILTER_SQL, at + 1), q.query).toBe(-1);
  return { ...q, query: q.query.replace(TENANT_FILTER_SQL, "1 = 1") };
}

/** A result reduced to something comparable: its rows, sorted, as JSON. */
const fingerprint = (rs: unknown[]) => rs.map((r) => JSON.stringify(r)).sort();

beforeAll(async () => {
  engine = EmbeddedClickHouse.create({ catalog });
  issuer = await TestTokenIssuer.start();
  dir = mkdtempSync(join(tmpdir(), "events-api-isolation-"));
  await engine.as(ADMIN, async (c) => {
    for (const s of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await c.command({ query: s });
    await insertEvents(c, TENANTS.flatMap((t) => t.events));
    await insertUsage(c, TENANTS.map((t) => ({ tenant_id: t.id, day: TODAY, events: 0, rejected_quota: t.rejectedQuota, rejected_expired: t.rejectedExpired })));
    // The administrator reads every tenant: the stripped queries return more than one tenant's rows there.
    for (const t of TENANTS) {
      const foreign = TENANTS.find((f) => f.id !== t.id)!;
      for (const [name, q] of Object.entries(queriesOf(t, foreign))) {
        const all = await rows<Record<string, unknown>>(c, { ...stripped(q), clickhouse_settings: {} });
        adminStripped.set(`${t.id}/${name}`, all.length);
      }
    }
  });
});

afterAll(async () => {
  await issuer?.stop();
  await engine?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `fn` with the events API serving tier `tier` from the engine's reader of that tier. */
async function servingTier<T>(tier: PlanTierName, fn: (url: string, reader: ClickHouseClient) => Promise<T>): Promise<T> {
  const config = loadEventsApiConfig(eventsApiEnv(dir, { jwksUrl: issuer.jwksUrl, provisioningUrl: "http://127.0.0.1:9" }));
  return engine.as({ kind: "reader", tier }, async (reader) => {
    const svc = await startEventsApi(config, { readers: { [tier]: reader }, dataKeys: null, host: "127.0.0.1", log: pino({ level: "silent" }), catalog });
    try {
      return await fn(svc.url, reader);
    } finally {
      await svc.stop();
    }
  });
}

describe("the isolation matrix: three tenants, one per tier, every route", () => {
  for (const t of TENANTS) {
    const others = TENANTS.filter((o) => o.id !== t.id);

    it(`${t.tier} tenant ${t.id} sees only its own history on every route`, async () => {
      await servingTier(t.tier, async (url) => {
        const token = await issuer.mint({ tenantId: t.id, planTier: t.tier, role: "viewer" });
        const get = <B>(path: string) => call<B>(url, "GET", path, { token });

        // Crash context: the agent's decisions of this tenant only (the other tenants' agent has the same id).
        const crash = await get<{ decisions: { eventId: string; rationale: string }[] }>(`/v1/agents/architect-1/crash-context?limit=100`);
        expect(crash.status, crash.text).toBe(200);
        expect(crash.body.decisions.map((d) => d.eventId)).toEqual(idsOf(newestFirst(t.decisions)));
        expect(crash.body.decisions.every((d) => d.rationale.startsWith(`${t.id} `))).toBe(true);

        // Loops: its resource, modified 8 times by its agent (the others' identical resource is not counted in).
        const loops = await get<{ loops: { projectId: string; resource: string; modifications: number; agents: number }[] }>(`/v1/loops?windowSeconds=7200&minModifications=5`);
        expect(loops.status, loops.text).toBe(200);
        expect(loops.body.loops).toEqual([expect.objectContaining({ projectId: PROJECT, resource: RESOURCE, modifications: 8, agents: 1 })]);

        // Timeline: every one of its events, newest first, nothing else.
        const timeline = await get<{ events: { eventId: string; projectId: string }[]; nextCursor: string | null }>(`/v1/events?limit=1000`);
        expect(timeline.status, timeline.text).toBe(200);
        expect(timeline.body.events.map((e) => e.eventId)).toEqual(idsOf(newestFirst(t.events)));
        expect(timeline.body.nextCursor).toBeNull();

        // One event: its own answers; every event of the others is 404, the same answer as a missing one.
        const own = await get<{ event: { eventId: string; payload: { summary?: string; rationale?: string } } }>(`/v1/events/${t.states[2]!.event_id}`);
        expect(own.status, own.text).toBe(200);
        expect(own.body.event.payload.summary).toBe(`${t.id} edit 2`);
        const missing = await get(`/v1/events/00000000-0000-4000-8000-000000000000`);
        expect(missing.status).toBe(404);
        for (const o of others) {
          for (const e of [o.decisions[0]!, o.states[0]!, o.events.at(-1)!]) {
            const foreign = await get(`/v1/events/${e.event_id}`);
            expect(foreign.status, `${t.id} reading ${o.id}'s event`).toBe(404);
            expect(foreign.text).toBe(missing.text);
          }
        }

        // State history: its 8 states of the shared resource name.
        const history = await get<{ states: { eventId: string; stateHash: string }[] }>(`/v1/projects/${PROJECT}/state-history?resource=${encodeURIComponent(RESOURCE)}&limit=1000`);
        expect(history.status, history.text).toBe(200);
        expect(history.body.states.map((s) => s.eventId)).toEqual(idsOf(newestFirst(t.states)));

        // Usage: its events stored today and its own refusals.
        const usage = await get<{ planTier: string; events: { today: number; thisMonth: number; allowancePerDay: number }; rejected: { quota: { today: number }; expired: { today: number } } }>(`/v1/usage`);
        expect(usage.status, usage.text).toBe(200);
        expect(usage.body).toMatchObject({
          planTier: t.tier,
          events: { today: t.events.length, thisMonth: t.events.length, allowancePerDay: catalog[t.tier].events.perDay },
          rejected: { quota: { today: t.rejectedQuota }, expired: { today: t.rejectedExpired } },
        });

        // Replays: another tenant's state of the same resource name is unknown here; the known states are its own.
        const member = await issuer.mint({ tenantId: t.id, planTier: t.tier, role: "member" });
        for (const o of others) {
          const replay = await call<{ error: { code: string; field: string; knownHashes: { stateHash: string }[] } }>(url, "POST", `/v1/projects/${PROJECT}/replays`, { token: member, body: { resource: RESOURCE, stateHash: o.states[4]!.state_hash } });
          expect(replay.status, replay.text).toBe(404);
          expect(replay.body.error.field).toBe("body.stateHash");
          expect(replay.body.error.knownHashes.map((k) => k.stateHash)).toEqual(newestFirst(t.states).map((s) => s.state_hash));
        }

        // The tenant is the token's: a tenant in the query is refused, not used.
        for (const o of others) {
          const sneaky = await get<{ error: { field: string } }>(`/v1/events?tenantId=${o.id}`);
          expect(sneaky.status).toBe(400);
          expect(sneaky.body.error.field).toBe("querystring.tenantId");
        }
      });
    });

    it(`${t.tier} reader: every query with its tenant filter stripped still reads only ${t.id}'s rows, and unbound none`, async () => {
      const foreign = others[0]!;
      await servingTier(t.tier, async (_url, reader) => {
        let broadened = 0;
        for (const [name, q] of Object.entries(queriesOf(t, foreign))) {
          // As the service sends every query: bound to the caller's tenant (TenantReader.query).
          const bound = await rows<Record<string, unknown>>(reader, { ...q, clickhouse_settings: readerQuerySettings(t.id) });
          const strippedBound = await rows<Record<string, unknown>>(reader, { ...stripped(q), clickhouse_settings: readerQuerySettings(t.id) });
          expect(fingerprint(strippedBound), `${name} stripped, bound to ${t.id}`).toEqual(fingerprint(bound));
          const unbound = await rows<Record<string, unknown>>(reader, { query: stripped(q).query, query_params: q.query_params });
          if (name === "usage") expect(Object.values(unbound[0] ?? {}).every((v) => Number(v) === 0), `${name} unbound`).toBe(true);
          else expect(unbound, `${name} unbound`).toEqual([]);
          if ((adminStripped.get(`${t.id}/${name}`) ?? 0) > bound.length) broadened++;
        }
        // The strip is real: as the administrator, the stripped queries read other tenants' rows.
        expect(broadened).toBeGreaterThanOrEqual(6);
        // And the bound results are this tenant's: the timeline is exactly its events.
        const timeline = await rows<{ event_id: string }>(reader, { ...stripped(queriesOf(t, foreign).timeline!), clickhouse_settings: readerQuerySettings(t.id) });
        expect(timeline.map((r) => r.event_id).sort()).toEqual(idsOf(t.events).sort());
        // Bound to another tenant, this tier's reader reads that tenant's rows only (the binding, not the user, decides).
        const other = await rows<{ event_id: string }>(reader, { ...stripped(queriesOf(t, foreign).timeline!), clickhouse_settings: readerQuerySettings(foreign.id) });
        expect(other.map((r) => r.event_id).sort()).toEqual(idsOf(foreign.events).sort());
      });
    });
  }

  it("answers a timestamp exactly as stored (microseconds, UTC)", async () => {
    const t = TENANTS[1]!;
    await servingTier(t.tier, async (url) => {
      const token = await issuer.mint({ tenantId: t.id, planTier: t.tier, role: "owner" });
      const e = t.states[5]!;
      const res = await call<{ event: { timestamp: string; ingestedAt: string } }>(url, "GET", `/v1/events/${e.event_id}`, { token });
      expect(res.body.event.timestamp).toBe(rfc3339Of(e.timestamp));
      expect(res.body.event.ingestedAt).toBe(rfc3339Of(e.ingested_at));
    });
  });
});
