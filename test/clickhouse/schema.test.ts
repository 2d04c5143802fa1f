/**
 * The SQL home on its own: what the generated DDL says, that the real ClickHouse parser accepts
 * every statement (including those only a server with a writable user directory can run), that
 * the catalog's numbers reach it unchanged, and that tenant-supplied values cannot become SQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENVIRONMENT_NAMES, InvalidTenantIdError, loadEnvironment, loadTierCatalog, PLAN_TIER_NAMES, validateTierCatalog, type PlanTierName, type TierCatalog } from "../../config/index.js";
import {
  accessControlSql,
  ClickHouseSchemaError,
  crashContextQuery,
  dropTenantReaderUserSql,
  embeddedUsersXml,
  hallucinationLoopsQuery,
  migrationSql,
  schemaSql,
  sqlScript,
  SWARM_EVENT_COLUMNS,
  SWARM_EVENTS_INSERT_COLUMNS,
  tenantReaderUserSql,
  tierProfileName,
  tierProfileSettings,
  tierQuotaName,
  tierRoleName,
} from "../../services/clickhouse-schema/index.js";
import { ADMIN, EmbeddedClickHouse, rows } from "../support/chdb.js";

const catalog = loadTierCatalog();
const HASH = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

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
      expect(table).toContain(`TTL toDateTime(timestamp) + INTERVAL ${ttl} DAY DELETE`);
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

  it("replicates on the operator's cluster and shards the Distributed table by tenant", () => {
    const statements = schemaSql({ eventTtlDays: 30, replicated: true });
    expect(statements).toHaveLength(3);
    for (const s of statements) expect(s).toContain("ON CLUSTER '{cluster}'");
    expect(statements[2]).toContain("ENGINE = Distributed('{cluster}', enchanted, swarm_events_local, cityHash64(tenant_id))");
  });

  it("has every column the event carries, and the ingestor sends all but the computed raw bytes", () => {
    const names = SWARM_EVENT_COLUMNS.map((c) => c.name);
    for (const c of ["event_id", "timestamp", "trace_id", "span_id", "agent_role", "agent_id", "tenant_id", "user_id", "project_id", "is_encrypted", "event_type", "confidence_score", "rationale", "target_resource", "state_hash", "raw_proto", "ingested_at"]) {
      expect(names).toContain(c);
    }
    expect(SWARM_EVENTS_INSERT_COLUMNS).toEqual(names.filter((n) => n !== "raw_proto"));
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
  it("creates one role, one profile and one quota per tier and one isolation policy per table: never per tenant", () => {
    for (const replicated of [false, true]) {
      const sql = accessControlSql(catalog, { replicated });
      const tables = replicated ? 2 : 1;
      expect(sql.filter((s) => s.startsWith("CREATE ROLE"))).toHaveLength(PLAN_TIER_NAMES.length);
      expect(sql.filter((s) => s.startsWith("CREATE SETTINGS PROFILE"))).toHaveLength(PLAN_TIER_NAMES.length);
      expect(sql.filter((s) => s.startsWith("CREATE QUOTA"))).toHaveLength(PLAN_TIER_NAMES.length);
      expect(sql.filter((s) => s.startsWith("CREATE ROW POLICY OR REPLACE tenant_isolation"))).toHaveLength(tables);
      expect(sql.filter((s) => /\bUSER\b|IDENTIFIED|PASSWORD/.test(s))).toEqual([]);
    }
  });

  it("filters every tenant role to the tenant of currentUser(), and lets no other role or user read rows", () => {
    const sql = accessControlSql(catalog, { replicated: true });
    const roles = PLAN_TIER_NAMES.map(tierRoleName).join(", ");
    for (const table of ["enchanted.swarm_events", "enchanted.swarm_events_local"]) {
      expect(sql).toContain(`CREATE ROW POLICY OR REPLACE tenant_isolation ON ${table} AS PERMISSIVE FOR SELECT USING tenant_id = replaceRegexpOne(currentUser(), '^tenant_', '') TO ${roles}`);
      expect(sql).toContain(`CREATE ROW POLICY OR REPLACE platform_admin_all_rows ON ${table} AS PERMISSIVE FOR SELECT USING 1 TO platform_admin`);
      expect(sql).toContain(`CREATE ROW POLICY OR REPLACE workers_tenant_bound_by_query ON ${table} AS PERMISSIVE FOR SELECT USING tenant_id = getSetting('log_comment') TO swarm_workers`);
    }
    // Grants come last: no role can read before its policy exists.
    const firstGrant = sql.findIndex((s) => s.startsWith("GRANT"));
    expect(sql.slice(firstGrant).every((s) => s.startsWith("GRANT"))).toBe(true);
  });

  it.each(PLAN_TIER_NAMES)("gives the %s tier exactly the catalog's quota and settings", (tier) => {
    const sql = accessControlSql(catalog);
    const q = catalog[tier].clickhouse.quota;
    const p = catalog[tier].clickhouse.profile;
    expect(statementFor(sql, `CREATE QUOTA OR REPLACE ${tierQuotaName(tier)} `)).toBe(
      `CREATE QUOTA OR REPLACE ${tierQuotaName(tier)} KEYED BY user_name FOR INTERVAL ${q.intervalSeconds} SECOND ` +
        `MAX queries = ${q.queries}, result_rows = ${q.resultRows}, read_rows = ${q.readRows}, execution_time = ${q.executionTimeSeconds} TO ${tierRoleName(tier)}`,
    );
    const profile = statementFor(sql, `ALTER SETTINGS PROFILE ${tierProfileName(tier)} `);
    expect(profile).toContain("final = 1 CONST");
    expect(profile).toContain(`max_memory_usage = ${p.maxMemoryUsageMiB * 1024 * 1024} MAX ${p.maxMemoryUsageMiB * 1024 * 1024}`);
    expect(profile).toContain(`max_execution_time = ${p.maxExecutionTimeSeconds} MAX ${p.maxExecutionTimeSeconds}`);
    expect(profile).toContain(`max_threads = ${p.maxThreads} MAX ${p.maxThreads}`);
    expect(profile).toContain(`max_result_rows = ${p.maxResultRows} MAX ${p.maxResultRows}`);
    expect(profile).toContain(`max_concurrent_queries_for_user = ${p.maxConcurrentQueries} MAX ${p.maxConcurrentQueries}`);
    expect(profile.endsWith(` TO ${tierRoleName(tier)}`)).toBe(true);
  });

  it("changes only the edited tier's quota when one catalog number changes", () => {
    const before = accessControlSql(catalog);
    const after = accessControlSql(withChange((c) => (c.pro.clickhouse.quota.readRows += 1)));
    const changed = after.filter((s, i) => s !== before[i]);
    expect(changed).toEqual([expect.stringContaining(`CREATE QUOTA OR REPLACE tenant_pro_quota`)]);
    expect(changed[0]).toContain(`read_rows = ${catalog.pro.clickhouse.quota.readRows + 1},`);
  });

  it("changes only the edited tier's profile when one catalog number changes", () => {
    const before = accessControlSql(catalog);
    const after = accessControlSql(withChange((c) => (c.enterprise.clickhouse.profile.maxThreads += 1)));
    const changed = after.filter((s, i) => s !== before[i]);
    expect(changed).toHaveLength(2);
    for (const s of changed) {
      expect(s).toMatch(/^(CREATE|ALTER) SETTINGS PROFILE (IF NOT EXISTS )?tenant_enterprise_settings /);
      expect(s).toContain(`max_threads = ${catalog.enterprise.clickhouse.profile.maxThreads + 1} MAX`);
    }
  });

  it("renders the embedded engine's principals from the same settings and quota", () => {
    for (const tier of PLAN_TIER_NAMES) {
      const xml = embeddedUsersXml({ kind: "tenant", tenantId: "acme", tier }, catalog);
      for (const s of tierProfileSettings(catalog[tier])) expect(xml).toContain(`<${s.name}>${s.value}</${s.name}>`);
      expect(xml).toContain(`<queries>${catalog[tier].clickhouse.quota.queries}</queries>`);
      expect(xml).toContain("<filter>tenant_id = replaceRegexpOne('tenant_acme', '^tenant_', '')</filter>");
    }
  });
});

describe("a tenant's read-path user", () => {
  it("is tenant_<id>, identified by a SHA-256 hash, holding exactly its tier's role", () => {
    expect(tenantReaderUserSql("acme-co", "pro", HASH)).toEqual([
      `CREATE USER IF NOT EXISTS \`tenant_acme-co\` IDENTIFIED WITH sha256_hash BY '${HASH}' DEFAULT DATABASE enchanted`,
      `ALTER USER \`tenant_acme-co\` IDENTIFIED WITH sha256_hash BY '${HASH}' DEFAULT DATABASE enchanted`,
      "REVOKE tenant_free, tenant_enterprise FROM `tenant_acme-co`",
      "GRANT tenant_pro TO `tenant_acme-co`",
      "ALTER USER `tenant_acme-co` DEFAULT ROLE tenant_pro",
    ]);
    expect(dropTenantReaderUserSql("acme-co")).toEqual(["DROP USER IF EXISTS `tenant_acme-co`"]);
  });

  it.each(["Acme", "a", "acme'; DROP USER platform_admin; --", "acme`", "acme co", "../acme"])("refuses the tenant id %j with assertTenantId's error", (id) => {
    expect(() => tenantReaderUserSql(id, "free", HASH)).toThrow(InvalidTenantIdError);
  });

  it("refuses a password instead of its hash, and an unknown tier, without echoing the password", () => {
    const error = (() => {
      try {
        tenantReaderUserSql("acme", "free", "hunter2");
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ClickHouseSchemaError);
    expect(error?.message).toContain("passwordSha256Hex");
    expect(error?.message).not.toContain("hunter2");
    expect(() => tenantReaderUserSql("acme", "gold" as PlanTierName, HASH)).toThrow(/tier = "gold"/);
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

  it("parses the migration, the replicated variant, the tenant users and both queries", async () => {
    const statements = [
      ...migrationSql(catalog, { eventTtlDays: 30 }),
      ...migrationSql(catalog, { eventTtlDays: 365, replicated: true }),
      ...tenantReaderUserSql("acme-co", "enterprise", HASH),
      ...dropTenantReaderUserSql("acme-co"),
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
    // The parser's own reading of the constraints: CONST and MAX survive as written.
    expect(formatted.find((f) => f.startsWith("ALTER SETTINGS PROFILE `tenant_free_settings`"))).toContain(
      `ADD SETTINGS final = 1 CONST, readonly = 2, max_memory_usage = ${catalog.free.clickhouse.profile.maxMemoryUsageMiB * 1024 * 1024} MAX`,
    );
    expect(formatted.find((f) => f.startsWith("CREATE QUOTA OR REPLACE tenant_free_quota"))).toContain("KEYED BY user_name FOR INTERVAL 1 hour MAX queries = 360");
  });
});
