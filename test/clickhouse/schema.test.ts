/**
 * The SQL home on its own: what the generated DDL says, that the real ClickHouse parser accepts
 * every statement (including those only a server with a writable user directory can run), that
 * the catalog's numbers reach it unchanged, and that tenant-supplied values cannot become SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, InvalidTenantIdError, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, validateTierCatalog, type TierCatalog } from "../../config/index.js";
import {
  accessControlSql,
  ClickHouseSchemaError,
  convergenceSql,
  crashContextQuery,
  embeddedUsersXml,
  grantQueries,
  lifecyclePrivileges,
  hallucinationLoopsQuery,
  migrationSql,
  schemaSql,
  sqlScript,
  SWARM_EVENT_COLUMNS,
  SWARM_EVENTS_INSERT_COLUMNS,
  readerQuerySettings,
  readerUserName,
  readerUsersConfig,
  RETIRED_ACCESS_ENTITIES,
  tenantEventDeletionSql,
  tierProfileName,
  tierProfileSettings,
  tierQuotaName,
} from "../../services/clickhouse-schema/index.js";
import { ADMIN, EmbeddedClickHouse, rows } from "../support/chdb.js";

const catalog = loadTierCatalog();

type Mutable<T> = { -readonly [K in keyof T]: Mutable<T[K]> };

/** A catalog with one number changed, validated like the real one. */
function withChange(change: (raw: Mutable<TierCatalog>) => void): TierCatalog {
  const raw = structuredClone(catalog) as Mutable<TierCatalog>;
  change(raw);
  return validateTierCatalog(raw);
}

function statementFor(statements: readonly string[], prefix: string): string {
  const found = statements.filter((s) => s.startsWith(prefix));
  expect(found, prefix).toHaveLength(1);
  return found[0] as string;
}

describe("the swarm_events DDL", () => {
  it.each(ENVIRONMENT_NAMES)("puts the tenant first in the sort key, partitions by month and takes the TTL from %s's config", (env) => {
    const ttl = loadEnvironment(env).clickhouse.eventTtlDays;
    for (const replicated of [false, true]) {
      const table = schemaSql({ eventTtlDays: ttl, replicated }).find((s) => s.includes("MergeTree")) ?? "";
      expect(table).toContain("ORDER BY (tenant_id, event_type, agent_id, timestamp, event_id)");
      expect(table).toContain("PARTITION BY toYYYYMM(timestamp)");
      expect(table).not.toMatch(/PARTITION BY[^\n]*tenant_id/);
      // Each row's own retention (its tier's when ingested); the config's TTL for rows without one.
      expect(table).toContain(`TTL toDateTime(timestamp) + toIntervalDay(if(retention_days = 0, ${ttl}, retention_days)) DELETE`);
    }
  });

  it("collapses copies of an event: ReplacingMergeTree keyed to event_id, and insert-block deduplication", () => {
    const [, single] = schemaSql({ eventTtlDays: 30 });
    expect(single).toContain("ENGINE = ReplacingMergeTree(ingested_at)");
    expect(single).toContain("non_replicated_deduplication_window = 10000");
    const [, local] = schemaSql({ eventTtlDays: 30, replicated: true });
    expect(local).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{cluster}/{shard}/enchanted/swarm_events_local', '{replica}', ingested_at)");
    expect(local).toContain("replicated_deduplication_window = 10000");
  });

  it("replicates on the operator's cluster and shards every Distributed table by tenant", () => {
    const statements = schemaSql({ eventTtlDays: 30, replicated: true });
    for (const s of statements) expect(s).toContain("ON CLUSTER '{cluster}'");
    for (const [distributed, local] of [["swarm_events", "swarm_events_local"], ["tenant_usage_daily", "tenant_usage_daily_local"], ["tenant_plans", "tenant_plans_local"]]) {
      expect(statementFor(statements, `CREATE TABLE IF NOT EXISTS enchanted.${distributed} ON CLUSTER`)).toContain(`ENGINE = Distributed('{cluster}', enchanted, ${local}, cityHash64(tenant_id))`);
    }
    // The view counts on each shard, into that shard's usage table.
    expect(statementFor(statements, "CREATE MATERIALIZED VIEW")).toContain("TO enchanted.tenant_usage_daily_local");
    expect(statementFor(statements, "CREATE MATERIALIZED VIEW")).toContain("FROM enchanted.swarm_events_local");
  });

  it("counts usage per tenant and day in a SummingMergeTree fed by a view, and keeps plans one row per tenant", () => {
    const statements = schemaSql({ eventTtlDays: 30 });
    const usage = statementFor(statements, "CREATE TABLE IF NOT EXISTS enchanted.tenant_usage_daily");
    expect(usage).toContain("ENGINE = SummingMergeTree()");
    expect(usage).toContain("ORDER BY (tenant_id, day)");
    expect(statementFor(statements, "CREATE MATERIALIZED VIEW")).toContain("SELECT tenant_id, toDate(ingested_at) AS day, count() AS events");
    expect(statementFor(statements, "CREATE TABLE IF NOT EXISTS enchanted.tenant_plans")).toContain("ENGINE = ReplacingMergeTree(updated_at)");
  });

  it("converges an existing table: adds new columns, and MODIFYs the TTL and every codec to the declaration", () => {
    for (const replicated of [false, true]) {
      const sql = convergenceSql({ eventTtlDays: 90, replicated });
      const storage = replicated ? "enchanted.swarm_events_local ON CLUSTER '{cluster}'" : "enchanted.swarm_events";
      expect(sql).toContain(`ALTER TABLE ${storage} MODIFY TTL toDateTime(timestamp) + toIntervalDay(if(retention_days = 0, 90, retention_days)) DELETE`);
      for (const c of SWARM_EVENT_COLUMNS.filter((c) => "codec" in c)) expect(sql).toContain(`ALTER TABLE ${storage} MODIFY COLUMN ${c.name} ${(c as { codec: string }).codec}`);
      expect(sql.filter((s) => s.includes("ADD COLUMN IF NOT EXISTS retention_days UInt16"))).toHaveLength(replicated ? 2 : 1);
      expect(sql).toContain(`ALTER TABLE ${storage} ADD INDEX IF NOT EXISTS event_id_bloom event_id TYPE bloom_filter(0.001) GRANULARITY 1`);
      // The Distributed table holds no data: no index there.
      expect(sql.filter((s) => s.includes("ADD INDEX"))).toHaveLength(1);
      expect(schemaSql({ eventTtlDays: 90, replicated }).slice(-sql.length)).toEqual(sql);
    }
    expect(migrationSql(catalog, { eventTtlDays: 30 })[0]).toBe("SET materialize_ttl_after_modify = 0");
  });

  it("has every column the event carries, and the ingestor sends all but the computed raw bytes", () => {
    const names = SWARM_EVENT_COLUMNS.map((c) => c.name);
    for (const c of ["event_id", "timestamp", "trace_id", "span_id", "agent_role", "agent_id", "tenant_id", "user_id", "project_id", "is_encrypted", "event_type", "confidence_score", "rationale", "target_resource", "state_hash", "raw_proto", "ingested_at"]) {
      expect(names).toContain(c);
    }
    expect(SWARM_EVENTS_INSERT_COLUMNS).toEqual(SWARM_EVENT_COLUMNS.filter((c) => c.insert).map((c) => c.name));
    expect(SWARM_EVENTS_INSERT_COLUMNS).not.toContain("raw_proto");
  });

  it("refuses a TTL outside the config's range, naming the field", () => {
    expect(() => schemaSql({ eventTtlDays: 0 })).toThrow(ClickHouseSchemaError);
    expect(() => schemaSql({ eventTtlDays: 1.5 })).toThrow(/eventTtlDays = 1.5/);
  });

  it("refuses to join a statement that contains a semicolon into the migration script", () => {
    expect(() => sqlScript(["SELECT 1", "SELECT ';'"])).toThrow(/statements\[1\]/);
    expect(sqlScript(["SELECT 1", "SELECT 2"])).toBe("SELECT 1;\n\nSELECT 2;\n");
  });
});

describe("access control from the tier catalog", () => {
  it("has one reader per tier and no per-tenant user, role or quota: the policies are the only SQL access entities", () => {
    for (const replicated of [false, true]) {
      const sql = accessControlSql(catalog, { replicated });
      expect(sql.filter((s) => /^CREATE (USER|ROLE|QUOTA|SETTINGS PROFILE)/.test(s))).toEqual([]);
      expect(sql.filter((s) => /IDENTIFIED|PASSWORD/.test(s))).toEqual([]);
      expect(sql.filter((s) => s.startsWith("CREATE ROW POLICY OR REPLACE tenant_bound_by_query"))).toHaveLength(replicated ? 4 : 2);
      // What earlier migrations created in SQL is dropped (after the new policies exist).
      for (const r of RETIRED_ACCESS_ENTITIES.roles) expect(sql).toContain(`DROP ROLE IF EXISTS ${r}`);
      expect(sql.findIndex((s) => s.startsWith("DROP"))).toBeGreaterThan(sql.findLastIndex((s) => s.startsWith("CREATE")));
    }
    expect(readerUsersConfig(catalog).map((r) => r.user)).toEqual(PLAN_TIER_NAMES.map(readerUserName));
  });

  it("binds every reader and the workers to the query's tenant, and lets no other user read rows", () => {
    const sql = accessControlSql(catalog, { replicated: true });
    const readers = PLAN_TIER_NAMES.map(readerUserName).join(", ");
    for (const table of ["enchanted.swarm_events", "enchanted.swarm_events_local"]) {
      expect(sql).toContain(`CREATE ROW POLICY OR REPLACE tenant_bound_by_query ON ${table} AS PERMISSIVE FOR SELECT USING tenant_id = getSetting('log_comment') TO ${readers}`);
      expect(sql).toContain(`CREATE ROW POLICY OR REPLACE platform_admin_all_rows ON ${table} AS PERMISSIVE FOR SELECT USING 1 TO platform_admin, swarm_lifecycle, swarm_ingestor`);
      expect(sql).toContain(`CREATE ROW POLICY OR REPLACE workers_tenant_bound_by_query ON ${table} AS PERMISSIVE FOR SELECT USING tenant_id = getSetting('log_comment') TO swarm_workers`);
    }
    for (const table of ["enchanted.tenant_usage_daily", "enchanted.tenant_usage_daily_local"]) {
      expect(sql).toContain(`CREATE ROW POLICY OR REPLACE tenant_bound_by_query ON ${table} AS PERMISSIVE FOR SELECT USING tenant_id = getSetting('log_comment') TO ${readers}`);
    }
    expect(readerQuerySettings("acme")).toEqual({ log_comment: "acme", quota_key: "acme" });
    expect(() => readerQuerySettings("ACME")).toThrow(InvalidTenantIdError);
  });

  it.each(PLAN_TIER_NAMES)("gives the %s tier's reader exactly the catalog's quota (keyed per tenant) and settings", (tier) => {
    const reader = readerUsersConfig(catalog).find((r) => r.tier === tier);
    const q = catalog[tier].clickhouse.quota;
    const p = catalog[tier].clickhouse.profile;
    expect(reader?.profile).toBe(tierProfileName(tier));
    expect(reader?.quotaName).toBe(tierQuotaName(tier));
    expect(reader?.quota).toEqual({
      intervalSeconds: q.intervalSeconds,
      limits: [
        { resource: "queries", max: q.queries },
        { resource: "result_rows", max: q.resultRows },
        { resource: "read_rows", max: q.readRows },
        { resource: "execution_time", max: q.executionTimeSeconds },
      ],
    });
    const byName = Object.fromEntries((reader?.settings ?? []).map((s) => [s.name, s]));
    expect(byName["final"]).toEqual({ name: "final", value: 1, constraint: "CONST" });
    expect(byName["max_memory_usage"]).toEqual({ name: "max_memory_usage", value: p.maxMemoryUsageMiB * 1024 * 1024, constraint: "MAX" });
    expect(byName["max_execution_time"]?.value).toBe(p.maxExecutionTimeSeconds);
    expect(byName["max_threads"]?.value).toBe(p.maxThreads);
    expect(byName["max_result_rows"]?.value).toBe(p.maxResultRows);
    expect(byName["max_concurrent_queries_for_user"]?.value).toBe(p.maxConcurrentQueries);
    expect(reader?.grants).toEqual(["GRANT SELECT ON enchanted.swarm_events", "GRANT SELECT ON enchanted.tenant_usage_daily"]);
  });

  it("changes only the edited tier's reader when one catalog number changes", () => {
    const before = readerUsersConfig(catalog);
    const after = readerUsersConfig(withChange((c) => (c.pro.clickhouse.quota.readRows += 1)));
    expect(after.filter((r, i) => JSON.stringify(r) !== JSON.stringify(before[i])).map((r) => r.tier)).toEqual(["pro"]);
  });

  it("renders the embedded engine's readers from the same settings and keyed quota", () => {
    for (const tier of PLAN_TIER_NAMES) {
      const xml = embeddedUsersXml({ kind: "reader", tier }, catalog);
      for (const s of tierProfileSettings(catalog[tier])) expect(xml).toContain(`<${s.name}>${s.value}</${s.name}>`);
      expect(xml).toContain(`<queries>${catalog[tier].clickhouse.quota.queries}</queries>`);
      expect(xml).toContain("<keyed>true</keyed>");
      expect(xml).toContain("<swarm_events><filter>tenant_id = getSetting('log_comment')</filter></swarm_events>");
      expect(xml).toContain("<tenant_usage_daily><filter>tenant_id = getSetting('log_comment')</filter></tenant_usage_daily>");
    }
  });
});

describe("a tenant's deletion", () => {
  it("is the lifecycle user's: plans written, tenant rows found and deleted, ON CLUSTER only where replicated", () => {
    expect(grantQueries(lifecyclePrivileges({ replicated: true }))).toEqual([
      "GRANT INSERT ON enchanted.tenant_plans",
      "GRANT SELECT ON enchanted.tenant_plans",
      "GRANT INSERT ON enchanted.tenant_plans_local",
      "GRANT SELECT ON enchanted.tenant_plans_local",
      "GRANT SELECT ON enchanted.swarm_events",
      "GRANT ALTER DELETE ON enchanted.swarm_events",
      "GRANT SELECT ON enchanted.swarm_events_local",
      "GRANT ALTER DELETE ON enchanted.swarm_events_local",
      "GRANT SELECT ON enchanted.tenant_usage_daily",
      "GRANT ALTER DELETE ON enchanted.tenant_usage_daily",
      "GRANT SELECT ON enchanted.tenant_usage_daily_local",
      "GRANT ALTER DELETE ON enchanted.tenant_usage_daily_local",
      "GRANT CLUSTER ON *.*",
    ]);
    expect(grantQueries(lifecyclePrivileges())).not.toContain("GRANT CLUSTER ON *.*");
  });

  it("deletes its event and usage rows, on every shard in the replicated topology", () => {
    expect(tenantEventDeletionSql("acme-co")).toEqual(["DELETE FROM enchanted.swarm_events WHERE tenant_id = 'acme-co'", "DELETE FROM enchanted.tenant_usage_daily WHERE tenant_id = 'acme-co'"]);
    expect(tenantEventDeletionSql("acme-co", { replicated: true })).toEqual([
      "DELETE FROM enchanted.swarm_events_local ON CLUSTER '{cluster}' WHERE tenant_id = 'acme-co'",
      "DELETE FROM enchanted.tenant_usage_daily_local ON CLUSTER '{cluster}' WHERE tenant_id = 'acme-co'",
    ]);
  });

  it.each(["Acme", "a", "acme'; DROP TABLE enchanted.swarm_events; --", "acme`", "acme co", "../acme"])("refuses the tenant id %j with assertTenantId's error", (id) => {
    expect(() => tenantEventDeletionSql(id)).toThrow(InvalidTenantIdError);
  });
});

describe("the seed questions", () => {
  it("bind every value on the server, never in the SQL text", () => {
    const crash = crashContextQuery({ tenantId: "acme", agentId: "architect-1' OR 1=1 --", before: new Date("2025-11-21T15:00:00Z"), limit: 10 });
    expect(crash.query).not.toContain("architect-1");
    expect(crash.query_params).toEqual({ tenantId: "acme", agentId: "architect-1' OR 1=1 --", before: "2025-11-21 15:00:00.000000", limit: 10 });
    const loops = hallucinationLoopsQuery({ tenantId: "acme", until: "2025-11-21 15:00:00" });
    expect(loops.query_params).toEqual({ tenantId: "acme", until: "2025-11-21 15:00:00", windowSeconds: 3600, minModifications: 5, limit: 100 });
    for (const q of [crash.query, loops.query]) {
      expect(q).toContain("FROM enchanted.swarm_events FINAL");
      expect(q).toContain("WHERE tenant_id = {tenantId:String}");
    }
  });

  it("refuse a bad tenant, moment or limit, naming the field", () => {
    expect(() => crashContextQuery({ tenantId: "ACME", agentId: "a", before: new Date() })).toThrow(InvalidTenantIdError);
    expect(() => crashContextQuery({ tenantId: "acme", agentId: "a", before: "yesterday" })).toThrow(/before = "yesterday"/);
    expect(() => crashContextQuery({ tenantId: "acme", agentId: "a", before: new Date(), limit: 0 })).toThrow(/limit = 0/);
    expect(() => hallucinationLoopsQuery({ tenantId: "acme", until: new Date(), windowSeconds: -1 })).toThrow(/windowSeconds = -1/);
  });
});

describe("every generated statement in the real ClickHouse parser", () => {
  let engine: EmbeddedClickHouse;
  beforeAll(() => {
    engine = EmbeddedClickHouse.create({ catalog });
  });
  afterAll(async () => {
    await engine.destroy();
  });

  it("parses the migration, the replicated variant, the deletion and both queries", async () => {
    const statements = [
      ...migrationSql(catalog, { eventTtlDays: 30 }),
      ...migrationSql(catalog, { eventTtlDays: 365, replicated: true }),
      ...tenantEventDeletionSql("acme-co", { replicated: true }),
      crashContextQuery({ tenantId: "acme", agentId: "a", before: new Date() }).query,
      hallucinationLoopsQuery({ tenantId: "acme", until: new Date() }).query,
    ];
    const formatted = await engine.as(ADMIN, async (c) => {
      const out: string[] = [];
      for (const q of statements) {
        const [row] = await rows<{ f: string }>(c, { query: "SELECT formatQuery({q:String}) AS f", query_params: { q } });
        out.push(row?.f ?? "");
      }
      return out;
    });
    expect(formatted).toHaveLength(statements.length);
    expect(formatted.filter((f) => /^ALTER TABLE enchanted.swarm_events_local ON CLUSTER [^\n]*\n\s*\(MODIFY TTL/.test(f))).toEqual([expect.stringContaining("retention_days")]);
  });
});
