/**
 * The generated schema and access control in a real ClickHouse engine (chdb): tenant isolation
 * (each tier's reader bound to one tenant per query, as the events API queries), the two seed
 * questions, the ingestor's limits, quotas, usage counted once under redelivery, exactly-once
 * answers, and the migration bringing an older table to the declaration. Every refusal asserted
 * here is ClickHouse's own error.
 */
import type { ClickHouseClient } from "@clickhouse/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog, validateTierCatalog } from "../../config/index.js";
import {
  convergenceSql,
  crashContextQuery,
  MIGRATION_SETTINGS,
  readerQuerySettings,
  SWARM_EVENT_COLUMNS,
  SWARM_EVENTS_SKIP_INDEXES,
  TENANT_USAGE_TABLE,
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

type Tenant = (typeof TENANTS)[number];

/** A client whose every call carries the events API's settings for `tenantId` (binding and quota key). */
function boundTo(client: ClickHouseClient, tenantId: string): ClickHouseClient {
  const settings = readerQuerySettings(tenantId);
  return new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      if (typeof value !== "function") return value;
      if (prop === "query" || prop === "command" || prop === "insert") {
        return (params: { clickhouse_settings?: Record<string, unknown> }) => (value as (p: unknown) => unknown).call(target, { ...params, clickhouse_settings: { ...settings, ...params.clickhouse_settings } });
      }
      return (value as (...a: unknown[]) => unknown).bind(target);
    },
  });
}

/** Runs `fn` as the tenant's tier reader, every query bound to the tenant: exactly how the events API reads. */
function asTenant<T>(t: Tenant, fn: (client: ClickHouseClient) => Promise<T>, cat = catalog): Promise<T> {
  return engine.as({ kind: "reader", tier: t.tier }, (c) => fn(boundTo(c, t.tenantId)), cat);
}

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
  for (const t of TENANTS) out[t.tenantId] = await asTenant(t, (c) => answers(c, t.tenantId));
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
    expect(table?.create_table_query).toContain(`TTL toDateTime(timestamp) + toIntervalDay(if(retention_days = 0, ${eventTtlDays}, retention_days))`);
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
      const seen = await asTenant(t, (c) => rows<{ n: number; tenants: string[] }>(c, { query: everything }));
      expect(seen).toEqual([{ n: expectedFor(events, t.tenantId).count, tenants: [t.tenantId] }]);
    }
  });

  it("answers the crash-context question with the tenant's own decisions, newest first", async () => {
    for (const t of TENANTS) {
      const result = await asTenant(t, (c) => rows<CrashContextRow>(c, crashContextQuery({ tenantId: t.tenantId, agentId: AGENT, before: NOW, limit: CRASH_CONTEXT_LIMIT })));
      expect(result.map((r) => r.event_id)).toEqual(expectedFor(events, t.tenantId).crashContext);
      expect(result.every((r) => r.rationale.startsWith(`${t.tenantId} decision`))).toBe(true);
    }
  });

  it("answers the hallucination-loop question per tenant and per project", async () => {
    for (const t of TENANTS) {
      const result = await asTenant(t, (c) => answers(c, t.tenantId));
      expect(result.loops).toEqual(expectedFor(events, t.tenantId).loops);
    }
    expect(expectedFor(events, "acme").loops.map((l) => `${l.project_id}/${l.target_resource}`)).toEqual(["web/src/main.py", "docs/src/main.py"]);
  });

  it("returns nothing to a tenant that names another tenant's id", async () => {
    const [acme, globex] = TENANTS;
    if (!acme || !globex) throw new Error("fixture needs two tenants");
    const result = await asTenant(acme, async (c) => ({
      crash: await rows(c, crashContextQuery({ tenantId: globex.tenantId, agentId: AGENT, before: NOW })),
      loops: await rows(c, hallucinationLoopsQuery({ tenantId: globex.tenantId, until: NOW, minModifications: 0 })),
      direct: await rows<{ n: number }>(c, { query: `SELECT toUInt32(count()) AS n FROM ${EVENTS} WHERE tenant_id = {t:String}`, query_params: { t: globex.tenantId } }),
    }));
    expect(result).toEqual({ crash: [], loops: [], direct: [{ n: 0 }] });
  });

  it("locks final = 1 for tenants: they cannot read unmerged copies", async () => {
    const t = TENANTS[0];
    if (!t) throw new Error("fixture needs a tenant");
    const errors = await asTenant(t, async (c) => [
      await rejection(c.command({ query: "SET final = 0" })),
      await rejection(c.query({ query: `SELECT count() FROM ${EVENTS}`, clickhouse_settings: { final: 0 } })),
    ]);
    for (const e of errors) expect(e).toMatchObject({ code: "452", type: "SETTING_CONSTRAINT_VIOLATION" });
  });

  it("runs each tier's tenants with the catalog's settings", async () => {
    for (const t of TENANTS) {
      const expected = tierProfileSettings(catalog[t.tier]);
      const actual = await asTenant(t, (c) =>
        rows<{ name: string; value: string }>(c, { query: "SELECT name, value FROM system.settings WHERE name IN {names:Array(String)}", query_params: { names: expected.map((s) => s.name) } }),
      );
      const byName = Object.fromEntries(actual.map((s) => [s.name, s.value]));
      for (const s of expected) expect(byName[s.name], `${t.tier} ${s.name}`).toBe(String(s.value));
      expect(byName.max_threads).toBe(String(catalog[t.tier].clickhouse.profile.maxThreads));
    }
  });

  it("gives a reader bound to one tenant only that tenant's rows, even from a query that forgot its tenant filter, and none unbound", async () => {
    const perTenant = `SELECT tenant_id, toUInt32(count()) AS n FROM ${EVENTS} GROUP BY tenant_id ORDER BY tenant_id`;
    const truth = await engine.as(ADMIN, (c) => rows<{ tenant_id: string; n: number }>(c, { query: perTenant }));
    for (const t of TENANTS) {
      const seen = await engine.as({ kind: "reader", tier: t.tier }, async (c) => ({
        unbound: await rows<{ tenant_id: string; n: number }>(c, { query: perTenant }),
        bound: await rows<{ tenant_id: string; n: number }>(c, { query: perTenant, clickhouse_settings: readerQuerySettings(t.tenantId) }),
      }));
      expect(seen.unbound).toEqual([]);
      expect(seen.bound).toEqual(truth.filter((r) => r.tenant_id === t.tenantId));
    }
  });

  it("refuses writes from a tenant", async () => {
    const t = TENANTS[0];
    if (!t) throw new Error("fixture needs a tenant");
    const e = await asTenant(t, (c) => rejection(insert(c, events.slice(0, 1))));
    expect(e).toMatchObject({ code: "497", type: "ACCESS_DENIED" });
  });

  it("lets the ingestor insert but not read events, ALTER or DROP", async () => {
    // It may read the two columns the usage view reads from each inserted block, nothing else.
    const [seen] = await engine.as(INGESTOR, (c) => rows<{ n: number }>(c, { query: `SELECT toUInt32(count()) AS n FROM ${EVENTS} WHERE tenant_id != '' AND ingested_at > 0` }));
    expect(seen?.n).toBeGreaterThan(0);
    const errors = await engine.as(INGESTOR, async (c) => [
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
    // Unbound (the quota counts queries whatever they read): a binding would add a SET per query on the embedded engine.
    const result = await engine.as(
      { kind: "reader", tier: acme.tier },
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

  it("counts each tenant's stored events per day in the usage table, once for a redelivered batch", async () => {
    // The table holds every batch above: the fixture once, its identical redelivery (dropped at
    // insert, so not counted) and the re-batched copies (stored, so counted: a crash between
    // insert and ack re-cut differently is the one case the counter over-counts).
    const usage = await engine.as(ADMIN, (c) => rows<{ tenant_id: string; events: string }>(c, { query: `SELECT tenant_id, toString(sum(events)) AS events FROM ${qualified(TENANT_USAGE_TABLE)} GROUP BY tenant_id ORDER BY tenant_id` }));
    const expected = TENANTS.map((t) => ({ tenant_id: t.tenantId, events: String(2 * events.filter((e) => e.tenant_id === t.tenantId).length) })).sort((a, b) => a.tenant_id.localeCompare(b.tenant_id));
    expect(usage).toEqual(expected);
    // A tier's reader sees its own tenant's usage only.
    for (const t of TENANTS) {
      const seen = await asTenant(t, (c) => rows<{ tenant_id: string }>(c, { query: `SELECT DISTINCT tenant_id FROM ${qualified(TENANT_USAGE_TABLE)}` }));
      expect(seen).toEqual([{ tenant_id: t.tenantId }]);
    }
  });
});

describe("the migration on a table an older declaration created", () => {
  let old: EmbeddedClickHouse;
  beforeAll(() => {
    old = EmbeddedClickHouse.create({ catalog });
  });
  afterAll(async () => {
    await old?.destroy();
  });

  it("adds new columns, and applies a changed TTL and codec to the existing table, keeping its rows", async () => {
    const table = schemaSql({ eventTtlDays: 30 })[1] as string;
    // The first release's table: no retention_days, a fixed TTL, LZ4 text columns.
    const first = table
      .replace(/,\n {4}INDEX [^\n]*/, "")
      .replace(/,\n {4}retention_days[^\n]*/, "")
      .replace(/TTL [^\n]* DELETE/, "TTL toDateTime(timestamp) + INTERVAL 30 DAY DELETE")
      .replaceAll("CODEC(ZSTD(1))", "CODEC(LZ4)");
    expect(first).not.toContain("retention_days");
    expect(first).not.toContain("INDEX");
    const shape = (c: ClickHouseClient) =>
      Promise.all([
        rows<{ create_table_query: string }>(c, { query: "SELECT create_table_query FROM system.tables WHERE database = 'enchanted' AND name = {t:String}", query_params: { t: SWARM_EVENTS_TABLE } }),
        rows<{ name: string; compression_codec: string }>(c, { query: "SELECT name, compression_codec FROM system.columns WHERE database = 'enchanted' AND table = {t:String} ORDER BY position", query_params: { t: SWARM_EVENTS_TABLE } }),
      ]);
    const after = await old.as(ADMIN, async (c) => {
      await c.command({ query: "CREATE DATABASE enchanted" });
      await c.command({ query: first });
      // Rows as the first release's ingestor sent them (no retention_days).
      const oldColumns = SWARM_EVENTS_INSERT_COLUMNS.filter((n) => n !== "retention_days");
      await c.insert({ table: EVENTS, values: events.map((e) => Object.fromEntries(oldColumns.map((n) => [n, e[n]]))), format: SWARM_EVENTS_INSERT_FORMAT, columns: [...oldColumns] as [string, ...string[]] });
      for (const statement of schemaSql({ eventTtlDays: 90 })) await c.command({ query: statement, clickhouse_settings: MIGRATION_SETTINGS });
      const once = await shape(c);
      // Converging again changes nothing.
      for (const statement of convergenceSql({ eventTtlDays: 90 })) await c.command({ query: statement, clickhouse_settings: MIGRATION_SETTINGS });
      expect(await shape(c)).toEqual(once);
      const [count] = await rows<{ n: number }>(c, { query: `SELECT toUInt32(count()) AS n FROM ${EVENTS}` });
      return { shape: once, count: count?.n };
    });
    const [[created], columns] = after.shape;
    expect(created?.create_table_query).toContain("TTL toDateTime(timestamp) + toIntervalDay(if(retention_days = 0, 90, retention_days))");
    for (const i of SWARM_EVENTS_SKIP_INDEXES) expect(created?.create_table_query).toContain(`INDEX ${i.name} ${i.expression} TYPE ${i.type} GRANULARITY ${i.granularity}`);
    expect(columns.map((c) => c.name)).toEqual(SWARM_EVENT_COLUMNS.map((c) => c.name));
    for (const c of SWARM_EVENT_COLUMNS.filter((c) => "codec" in c)) expect(columns.find((x) => x.name === c.name)?.compression_codec).toBe((c as { codec: string }).codec);
    expect(after.count).toBe(events.length);
    // Rows older than the column read 0 (the table's default TTL applies to them).
    const [kept] = await old.as(ADMIN, (c) => rows<{ n: number }>(c, { query: `SELECT toUInt32(countIf(retention_days = 0)) AS n FROM ${EVENTS}` }));
    expect(kept?.n).toBe(events.length);
  });
});
