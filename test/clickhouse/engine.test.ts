/**
 * The generated schema and access control in a real ClickHouse engine (chdb): tenant isolation,
 * the two seed questions, the ingestor's limits, quotas, and exactly-once answers under
 * redelivery. Every refusal asserted here is ClickHouse's own error.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog, validateTierCatalog } from "../../config/index.js";
import {
  crashContextQuery,
  hallucinationLoopsQuery,
  recentChangesQuery,
  type RecentChangesRow,
  qualified,
  schemaSql,
  SWARM_EVENTS_INSERT_COLUMNS,
  SWARM_EVENTS_INSERT_FORMAT,
  SWARM_EVENTS_INSERT_SETTINGS,
  SWARM_EVENTS_TABLE,
  tenantBinding,
  TENANT_BINDING_SETTING,
  tierProfileSettings,
  type CrashContextRow,
  type EmbeddedPrincipal,
  type HallucinationLoopRow,
  type SwarmEventRow,
} from "../../services/clickhouse-schema/index.js";
import { ADMIN, EmbeddedClickHouse, INGESTOR, rejection, rows } from "../support/chdb.js";
import { AGENT, allEvents, CRASH_CONTEXT_LIMIT, expectedFor, LOOP_MIN_MODIFICATIONS, LOOP_WINDOW_SECONDS, NOW, TENANTS, type Expected } from "./fixtures.js";

const catalog = loadTierCatalog();
const eventTtlDays = loadEnvironment("dev").clickhouse.eventTtlDays;
const EVENTS = qualified(SWARM_EVENTS_TABLE);
const events = allEvents();

const tenant = (t: (typeof TENANTS)[number]): EmbeddedPrincipal => ({ kind: "tenant", tenantId: t.tenantId, tier: t.tier });

let engine: EmbeddedClickHouse;

async function insert(client: ClickHouseClient, batch: readonly SwarmEventRow[]): Promise<void> {
  await client.insert({
    table: EVENTS,
    values: [...batch],
    format: SWARM_EVENTS_INSERT_FORMAT,
    columns: [...SWARM_EVENTS_INSERT_COLUMNS] as [string, ...string[]],
    clickhouse_settings: { ...SWARM_EVENTS_INSERT_SETTINGS },
  });
}

/** Everything a tenant can ask: its unfiltered count and both seed questions. */
async function answers(client: ClickHouseClient, tenantId: string): Promise<Expected> {
  const [count] = await rows<{ n: number }>(client, { query: `SELECT toUInt32(count()) AS n FROM ${EVENTS}` });
  const crash = await rows<CrashContextRow>(client, crashContextQuery({ tenantId, agentId: AGENT, before: NOW, limit: CRASH_CONTEXT_LIMIT }));
  const loops = await rows<HallucinationLoopRow>(
    client,
    hallucinationLoopsQuery({ tenantId, until: NOW, windowSeconds: LOOP_WINDOW_SECONDS, minModifications: LOOP_MIN_MODIFICATIONS }),
  );
  return {
    count: Number(count?.n),
    crashContext: crash.map((r) => r.event_id),
    loops: loops.map((r) => ({ project_id: r.project_id, target_resource: r.target_resource, modifications: r.modifications })),
  };
}

async function allAnswers(): Promise<Record<string, Expected>> {
  const out: Record<string, Expected> = {};
  for (const t of TENANTS) out[t.tenantId] = await engine.as(tenant(t), (c) => answers(c, t.tenantId));
  return out;
}

beforeAll(async () => {
  engine = EmbeddedClickHouse.create({ catalog });
  await engine.as(ADMIN, async (client) => {
    for (const statement of schemaSql({ eventTtlDays })) await client.command({ query: statement });
  });
  await engine.as(INGESTOR, (client) => insert(client, events));
});

afterAll(async () => {
  await engine?.destroy();
});

describe("swarm_events in a real ClickHouse engine", () => {
  it("creates the table from the generated DDL: tenant first in the sort key, monthly partitions, the config's TTL", async () => {
    const [table] = await engine.as(ADMIN, (c) =>
      rows<{ engine: string; sorting_key: string; partition_key: string; create_table_query: string }>(c, {
        query: "SELECT engine, sorting_key, partition_key, create_table_query FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        query_params: { db: "enchanted", t: SWARM_EVENTS_TABLE },
      }),
    );
    expect(table?.engine).toBe("ReplacingMergeTree");
    expect(table?.sorting_key.split(", ")[0]).toBe("tenant_id");
    expect(table?.sorting_key.split(", ").at(-1)).toBe("event_id");
    expect(table?.partition_key).toBe("toYYYYMM(timestamp)");
    expect(table?.create_table_query).toContain(`TTL toDateTime(timestamp) + toIntervalDay(${eventTtlDays})`);
  });

  it("keeps the raw protobuf bytes exactly, including bytes that are not UTF-8", async () => {
    const first = events[0];
    const [row] = await engine.as(ADMIN, (c) =>
      rows<{ raw: string }>(c, { query: `SELECT base64Encode(raw_proto) AS raw FROM ${EVENTS} WHERE event_id = {id:UUID}`, query_params: { id: first?.event_id ?? "" } }),
    );
    expect(row?.raw).toBe(first?.raw_proto_base64);
  });

  it("shows each tenant only its own rows, even in an unfiltered count()", async () => {
    const everything = `SELECT toUInt32(count()) AS n, arraySort(groupUniqArray(tenant_id)) AS tenants FROM ${EVENTS}`;
    const all = await engine.as(ADMIN, (c) => rows<{ n: number; tenants: string[] }>(c, { query: everything }));
    expect(all).toEqual([{ n: events.length, tenants: TENANTS.map((t) => t.tenantId).sort() }]);
    for (const t of TENANTS) {
      const seen = await engine.as(tenant(t), (c) => rows<{ n: number; tenants: string[] }>(c, { query: everything }));
      expect(seen).toEqual([{ n: expectedFor(events, t.tenantId).count, tenants: [t.tenantId] }]);
    }
  });

  it("answers the crash-context question with the tenant's own decisions, newest first", async () => {
    for (const t of TENANTS) {
      const result = await engine.as(tenant(t), (c) => rows<CrashContextRow>(c, crashContextQuery({ tenantId: t.tenantId, agentId: AGENT, before: NOW, limit: CRASH_CONTEXT_LIMIT })));
      expect(result.map((r) => r.event_id)).toEqual(expectedFor(events, t.tenantId).crashContext);
      expect(result.every((r) => r.rationale.startsWith(`${t.tenantId} decision`))).toBe(true);
    }
  });

  it("answers the hallucination-loop question per tenant and per project", async () => {
    for (const t of TENANTS) {
      const result = await engine.as(tenant(t), (c) => answers(c, t.tenantId));
      expect(result.loops).toEqual(expectedFor(events, t.tenantId).loops);
    }
    expect(expectedFor(events, "acme").loops.map((l) => `${l.project_id}/${l.target_resource}`)).toEqual(["web/src/main.py", "docs/src/main.py"]);
  });

  it("returns nothing to a tenant that names another tenant's id", async () => {
    const [acme, globex] = TENANTS;
    if (!acme || !globex) throw new Error("fixture needs two tenants");
    const result = await engine.as(tenant(acme), async (c) => ({
      crash: await rows(c, crashContextQuery({ tenantId: globex.tenantId, agentId: AGENT, before: NOW })),
      loops: await rows(c, hallucinationLoopsQuery({ tenantId: globex.tenantId, until: NOW, minModifications: 0 })),
      direct: await rows<{ n: number }>(c, { query: `SELECT toUInt32(count()) AS n FROM ${EVENTS} WHERE tenant_id = {t:String}`, query_params: { t: globex.tenantId } }),
    }));
    expect(result).toEqual({ crash: [], loops: [], direct: [{ n: 0 }] });
  });

  it("locks final = 1 for tenants: they cannot read unmerged copies", async () => {
    const t = TENANTS[0];
    if (!t) throw new Error("fixture needs a tenant");
    const errors = await engine.as(tenant(t), async (c) => [
      await rejection(c.command({ query: "SET final = 0" })),
      await rejection(c.query({ query: `SELECT count() FROM ${EVENTS}`, clickhouse_settings: { final: 0 } })),
    ]);
    for (const e of errors) expect(e).toMatchObject({ code: "452", type: "SETTING_CONSTRAINT_VIOLATION" });
  });

  it("runs each tier's tenants with the catalog's settings", async () => {
    for (const t of TENANTS) {
      const expected = tierProfileSettings(catalog[t.tier]);
      const actual = await engine.as(tenant(t), (c) =>
        rows<{ name: string; value: string }>(c, { query: "SELECT name, value FROM system.settings WHERE name IN {names:Array(String)}", query_params: { names: expected.map((s) => s.name) } }),
      );
      const byName = Object.fromEntries(actual.map((s) => [s.name, s.value]));
      for (const s of expected) expect(byName[s.name], `${t.tier} ${s.name}`).toBe(String(s.value));
      expect(byName.max_threads).toBe(String(catalog[t.tier].clickhouse.profile.maxThreads));
    }
  });

  it("refuses writes from a tenant", async () => {
    const t = TENANTS[0];
    if (!t) throw new Error("fixture needs a tenant");
    const e = await engine.as(tenant(t), (c) => rejection(insert(c, events.slice(0, 1))));
    expect(e).toMatchObject({ code: "497", type: "ACCESS_DENIED" });
  });

  it("lets the ingestor insert but not SELECT, ALTER or DROP (ACCESS_DENIED)", async () => {
    const errors = await engine.as(INGESTOR, async (c) => [
      await rejection(c.query({ query: `SELECT count() FROM ${EVENTS}` })),
      await rejection(c.query({ ...crashContextQuery({ tenantId: "acme", agentId: AGENT, before: NOW }) })),
      await rejection(c.command({ query: `ALTER TABLE ${EVENTS} DELETE WHERE 1` })),
      await rejection(c.command({ query: `ALTER TABLE ${EVENTS} DROP COLUMN rationale` })),
      await rejection(c.command({ query: `TRUNCATE TABLE ${EVENTS}` })),
      await rejection(c.command({ query: `DROP TABLE ${EVENTS}` })),
    ]);
    for (const e of errors) expect(e).toMatchObject({ code: "497", type: "ACCESS_DENIED" });
  });

  it("lets the workers' user read one tenant's recent changes (the query binds the tenant) but not write, ALTER or DROP", async () => {
    const WORKERS: EmbeddedPrincipal = { kind: "workers" };
    const result = await engine.as(WORKERS, async (c) => ({
      changes: await Promise.all(TENANTS.map((t) => rows<RecentChangesRow>(c, recentChangesQuery({ tenantId: t.tenantId, projectId: "web", prefix: "", until: NOW, windowSeconds: 31_000_000 })))),
      errors: [
        await rejection(insert(c, events.slice(0, 1))),
        await rejection(c.command({ query: `ALTER TABLE ${EVENTS} DELETE WHERE 1` })),
        await rejection(c.command({ query: `TRUNCATE TABLE ${EVENTS}` })),
        await rejection(c.command({ query: `DROP TABLE ${EVENTS}` })),
      ],
    }));
    const truth = await engine.as(ADMIN, (c) => Promise.all(TENANTS.map((t) => rows<RecentChangesRow>(c, recentChangesQuery({ tenantId: t.tenantId, projectId: "web", prefix: "", until: NOW, windowSeconds: 31_000_000 })))));
    expect(result.changes).toEqual(truth);
    expect(truth.every((perTenant) => perTenant.length > 0)).toBe(true);
    for (const e of result.errors) expect(e).toMatchObject({ code: "497", type: "ACCESS_DENIED" });
  });

  it("gives the workers' user only the bound tenant's rows, even from a query that forgot its tenant filter, and none unbound", async () => {
    const WORKERS: EmbeddedPrincipal = { kind: "workers" };
    const perTenant = `SELECT tenant_id, toUInt32(count()) AS n FROM ${EVENTS} GROUP BY tenant_id ORDER BY tenant_id`;
    const seen = await engine.as(WORKERS, async (c) => ({
      unbound: await rows<{ tenant_id: string; n: number }>(c, { query: perTenant }),
      bound: await Promise.all(TENANTS.map((t) => rows<{ tenant_id: string; n: number }>(c, { query: perTenant, clickhouse_settings: tenantBinding(t.tenantId) }))),
      // Binding by hand in the SQL is the same setting: one tenant, not a way around the policy.
      other: await rows<{ tenant_id: string; n: number }>(c, { query: `${perTenant} SETTINGS ${TENANT_BINDING_SETTING} = 'no-such-tenant'` }),
    }));
    const truth = await engine.as(ADMIN, (c) => rows<{ tenant_id: string; n: number }>(c, { query: perTenant }));
    expect(truth.length).toBe(TENANTS.length);
    expect(seen.unbound).toEqual([]);
    expect(seen.other).toEqual([]);
    TENANTS.forEach((t, i) => expect(seen.bound[i]).toEqual(truth.filter((r) => r.tenant_id === t.tenantId)));
  });

  it("refuses a tenant's queries beyond its tier's quota (QUOTA_EXCEEDED)", async () => {
    const tiny = structuredClone(catalog) as { free: { clickhouse: { quota: { queries: number } } } };
    tiny.free.clickhouse.quota.queries = 3;
    const tinyCatalog = validateTierCatalog(tiny);
    const acme = TENANTS.find((t) => t.tier === "free");
    if (!acme) throw new Error("fixture needs a free tenant");
    const result = await engine.as(
      tenant(acme),
      async (c) => {
        const count = { query: `SELECT count() FROM ${EVENTS}` };
        for (let i = 0; i < 3; i++) await rows(c, count);
        return rejection(c.query(count));
      },
      tinyCatalog,
    );
    expect(result).toMatchObject({ code: "201", type: "QUOTA_EXCEEDED" });
  });

  it("gives every answer once per event when the ingestor redelivers a batch", async () => {
    const before = await allAnswers();
    for (const t of TENANTS) expect(before[t.tenantId]).toEqual(expectedFor(events, t.tenantId));
    const stored = async (c: ClickHouseClient) => Number((await rows<{ n: number }>(c, { query: `SELECT toUInt32(count()) AS n FROM ${EVENTS}` }))[0]?.n);

    // The same batch again: the engine drops the identical insert block.
    await engine.as(INGESTOR, (c) => insert(c, events));
    expect(await engine.as(ADMIN, stored)).toBe(events.length);

    // Re-batched after a crash (other blocks, other order): the copies are stored (merges held
    // back so that they stay), and every read path still sees each event once.
    await engine.as(ADMIN, async (c) => {
      await c.command({ query: `SYSTEM STOP MERGES ${EVENTS}` });
      const reversed = [...events].reverse();
      await insert(c, reversed.slice(0, 20));
      await insert(c, reversed.slice(20));
      expect(await stored(c)).toBe(2 * events.length);
    });
    expect(await allAnswers()).toEqual(before);
  });
});
