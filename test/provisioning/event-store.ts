/**
 * The provisioning tests' event store: the real ClickHouse engine (chdb) on a temporary
 * directory, with the event store's schema, on which the service's statements run AS the
 * lifecycle user (`CLICKHOUSE_USERS.lifecycle`: the engine enforces its grants, as the server
 * enforces the configuration user's), through the service's own `ClickHouseEventStore`.
 *
 * One engine per process (chdb), so the test's own writes (events and usage of tenants the
 * service created) run in {@link TestEventStore.asAdmin}: the lifecycle engine is closed, the
 * engine opens as the administrator on the same data, then as the lifecycle user again. Every
 * use of the engine (the service's and the test's) takes turns. {@link TestEventStore.cutOff}
 * points the service at a ClickHouse that does not answer (an HTTP client on a closed port) until
 * {@link TestEventStore.restore}: the service's effects then fail exactly as with an unreachable
 * server.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from "@clickhouse/client";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { embeddedServerConfigXml, embeddedUsersXml, formatDateTime64, qualified, schemaSql, SWARM_EVENTS_INSERT_FORMAT, SWARM_EVENTS_TABLE, TENANT_PLANS_TABLE, type EmbeddedPrincipal } from "../../services/clickhouse-schema/index.js";
import { openEmbeddedEngine, type ClickHouseHandle } from "../../services/ingestor/src/sink.js";
import { ClickHouseEventStore, type EventStore, type TenantRowCounts } from "../../services/provisioning/src/event-store.js";
import type { TenantPlanRow } from "../../services/clickhouse-schema/table.js";

/** A port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The service's calls of the event store. */
export const EVENT_STORE_CALLS = ["writePlan", "deleteTenantRows", "tenantRowCounts", "ping"] as const;
export type EventStoreCall = (typeof EVENT_STORE_CALLS)[number];

export class TestEventStore implements EventStore {
  private engine: ClickHouseHandle | undefined;
  private lifecycle: ClickHouseEventStore | undefined;
  private turn: Promise<unknown> = Promise.resolve();
  private configs = 0;
  private unreachable: { readonly store: ClickHouseEventStore; readonly client: ClickHouseClient; readonly ops: ReadonlySet<EventStoreCall> } | undefined;
  /** The service's calls while cut off (each failed). */
  failedCalls = 0;

  private constructor(private readonly root: string) {}

  /** A fresh engine under `root` with the event store's schema, open as the lifecycle user. */
  static async open(root: string): Promise<TestEventStore> {
    mkdirSync(join(root, "data"), { recursive: true });
    mkdirSync(join(root, "config"), { recursive: true });
    const store = new TestEventStore(root);
    await store.asAdmin(async (admin) => {
      for (const statement of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await admin.command({ query: statement });
    });
    return store;
  }

  private async openAs(principal: EmbeddedPrincipal): Promise<ClickHouseHandle> {
    const n = this.configs++;
    const users = join(this.root, "config", `users-${n}.xml`);
    const config = join(this.root, "config", `config-${n}.xml`);
    writeFileSync(users, embeddedUsersXml(principal, loadTierCatalog()));
    writeFileSync(config, embeddedServerConfigXml(users));
    return openEmbeddedEngine(join(this.root, "data"), [`--config-file=${config}`]);
  }

  private async shut(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    this.lifecycle = undefined;
    if (engine) {
      await engine.client.close();
      await engine.release();
    }
  }

  /** Runs `fn` when no other use of the engine runs. */
  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.turn.then(fn, fn);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /** The lifecycle user's store (the engine opened as it if it is not). */
  private async asLifecycle(): Promise<ClickHouseEventStore> {
    if (!this.lifecycle) {
      this.engine = await this.openAs({ kind: "lifecycle" });
      this.lifecycle = new ClickHouseEventStore(this.engine.client, { replicated: false });
    }
    return this.lifecycle;
  }

  /** Runs `fn` with a client of the administrator (the test's own writes), then the lifecycle user's engine again. */
  asAdmin<T>(fn: (admin: ClickHouseClient) => Promise<T>): Promise<T> {
    return this.inTurn(async () => {
      await this.shut();
      const admin = await this.openAs({ kind: "admin" });
      try {
        return await fn(admin.client);
      } finally {
        await admin.client.close();
        await admin.release();
      }
    });
  }

  /** Runs `fn` with the lifecycle user's client (what the service sees: every row). */
  read<T>(fn: (client: ClickHouseClient) => Promise<T>): Promise<T> {
    return this.inTurn(async () => {
      await this.asLifecycle();
      return fn(this.engine!.client);
    });
  }

  /**
   * From now on the service's calls (`ops`, default all) go to a ClickHouse that does not answer
   * (the real HTTP client on a closed port), until {@link restore}.
   */
  async cutOff(ops: readonly EventStoreCall[] = EVENT_STORE_CALLS): Promise<void> {
    const client = createClient({ url: `http://127.0.0.1:${await closedPort()}`, request_timeout: 2_000, log: { level: ClickHouseLogLevel.OFF } });
    this.unreachable = { client, store: new ClickHouseEventStore(client, { replicated: false }), ops: new Set(ops) };
  }

  async restore(): Promise<void> {
    const down = this.unreachable;
    this.unreachable = undefined;
    await down?.client.close();
  }

  /** The service's call: to the unreachable ClickHouse while cut off, else on the engine as the lifecycle user. */
  private call<T>(op: EventStoreCall, fn: (store: EventStore) => Promise<T>): Promise<T> {
    const down = this.unreachable;
    if (down?.ops.has(op)) {
      this.failedCalls++;
      return fn(down.store);
    }
    return this.inTurn(async () => fn(await this.asLifecycle()));
  }

  writePlan(row: TenantPlanRow): Promise<void> {
    return this.call("writePlan", (s) => s.writePlan(row));
  }

  deleteTenantRows(tenantId: string): Promise<void> {
    return this.call("deleteTenantRows", (s) => s.deleteTenantRows(tenantId));
  }

  tenantRowCounts(tenantId: string): Promise<TenantRowCounts> {
    return this.call("tenantRowCounts", (s) => s.tenantRowCounts(tenantId));
  }

  ping(): Promise<boolean> {
    return this.call("ping", (s) => s.ping());
  }

  /** The service never calls this on a store handed in; the harness does at its end. */
  async close(): Promise<void> {
    await this.restore();
    await this.inTurn(() => this.shut());
  }

  // ---- the test's reads and writes --------------------------------------------------------------

  /** The tenant's plan rows, newest first (every version, not only the current one). */
  plans(tenantId: string): Promise<TenantPlanRow[]> {
    return this.read(async (c) => (await c.query({ query: `SELECT tenant_id, plan_tier, status, updated_at FROM ${qualified(TENANT_PLANS_TABLE)} WHERE tenant_id = {t:String} ORDER BY updated_at DESC`, query_params: { t: tenantId }, format: "JSONEachRow" })).json<TenantPlanRow>());
  }

  /** The tenant's current plan row (the newest version, as ReplacingMergeTree keeps it). */
  async currentPlan(tenantId: string): Promise<TenantPlanRow | undefined> {
    return (await this.plans(tenantId))[0];
  }

  /** The tenant's event and usage rows, as the lifecycle user counts them. */
  counts(tenantId: string): Promise<TenantRowCounts> {
    return this.inTurn(async () => (await this.asLifecycle()).tenantRowCounts(tenantId));
  }

  /** Inserts `n` events of `tenantId` (as the ingestor would: the usage view counts them). */
  insertEvents(tenantId: string, n: number): Promise<void> {
    const now = BigInt(Date.now()) * 1000n;
    // Every column of an ingestor row (SwarmEventRow), with the free tier's retention.
    const rows = Array.from({ length: n }, (_, i) => ({
      event_id: crypto.randomUUID(),
      timestamp: formatDateTime64(now - BigInt(i) * 1_000_000n),
      trace_id: `trace-${i}`,
      span_id: `span-${i}`,
      agent_role: "CODER",
      agent_id: `agent-${i % 3}`,
      tenant_id: tenantId,
      user_id: "user-1",
      project_id: "web",
      is_encrypted: false,
      event_type: "decision",
      confidence_score: 0.5,
      rationale: `decision ${i} of ${tenantId}`,
      target_resource: "",
      state_hash: "",
      raw_proto_base64: Buffer.from(`event ${i}`).toString("base64"),
      ingested_at: formatDateTime64(now).slice(0, 23),
      retention_days: loadTierCatalog().free.events.retentionDays,
    }));
    return this.asAdmin(async (admin) => {
      await admin.insert({ table: qualified(SWARM_EVENTS_TABLE), values: rows, format: SWARM_EVENTS_INSERT_FORMAT });
    });
  }
}
