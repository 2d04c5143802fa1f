/**
 * The provisioning service's side of the event store (ClickHouse), as the lifecycle user
 * (`CLICKHOUSE_USERS.lifecycle`: INSERT and SELECT on the plans, SELECT and ALTER DELETE on the
 * events and the usage, every row visible):
 * - each tenant's plan row in `tenant_plans` (tier and status; the ingestor reads it for the
 *   tier's daily allowance and retention, and refuses an offboarded tenant's events);
 * - an offboarded tenant's rows deleted (`tenantEventDeletionSql`) and counted
 *   (`tenantRowCountsQuery`) until none is left.
 *
 * In production the client speaks HTTP (`PROVISIONING_CLICKHOUSE_*`, {@link openEventStore}); the
 * tests hand the service a client of the embedded engine instead (`ProvisioningOverrides.eventStore`).
 * Nothing here imports the embedded engine: the production image never loads it.
 */
import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from "@clickhouse/client";
import { assertTenantId } from "../../../config/tenancy.js";
import type { PlanTierName } from "../../../config/tiers.js";
import { qualified, TENANT_PLANS_TABLE } from "../../clickhouse-schema/names.js";
import type { TenantPlanRow } from "../../clickhouse-schema/table.js";
import { tenantEventDeletionSql, tenantRowCountsQuery } from "../../clickhouse-schema/tenant-deletion.js";
import type { EventStoreConfig } from "./config.js";

/** How many of a tenant's rows any reader could still see. */
export interface TenantRowCounts {
  readonly events: number;
  readonly usage: number;
}

/** What the outbox needs of the event store. */
export interface EventStore {
  /** Inserts one plan row (idempotent: the same row again changes nothing a reader sees). */
  writePlan(row: TenantPlanRow): Promise<void>;
  /** Runs the deletion of every event and usage row of the tenant. */
  deleteTenantRows(tenantId: string): Promise<void>;
  /** The tenant's event and usage rows still visible. */
  tenantRowCounts(tenantId: string): Promise<TenantRowCounts>;
  /** Whether the store answers. */
  ping(): Promise<boolean>;
  /** Closes what the store opened (never a client handed in from outside). */
  close(): Promise<void>;
}

/** A plan row's `updated_at` (`DateTime64(3, 'UTC')`, 'YYYY-MM-DD hh:mm:ss.fff') from milliseconds since the epoch. */
export function planVersion(epochMs: number): string {
  const iso = new Date(epochMs).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
}

/** The plan row of a tenant in a given state, versioned by `versionMs` (the tenant's effect clock: it only grows). */
export function tenantPlanRow(tenantId: string, tier: PlanTierName, status: TenantPlanRow["status"], versionMs: number): TenantPlanRow {
  return { tenant_id: assertTenantId(tenantId), plan_tier: tier, status, updated_at: planVersion(versionMs) };
}

export interface ClickHouseEventStoreOptions {
  /** The cluster's topology: `ON CLUSTER` deletions of the per-shard tables when replicated. */
  readonly replicated: boolean;
  /** The longest one request may take, in ms (an `ON CLUSTER` deletion waits at most about this for the replicas). */
  readonly requestTimeoutMs?: number;
  /** Whether {@link EventStore.close} closes the client (only when this store created it). @default false */
  readonly ownsClient?: boolean;
}

/** The event store through a `@clickhouse/client` client (HTTP in production, the embedded engine's in tests). */
export class ClickHouseEventStore implements EventStore {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly o: ClickHouseEventStoreOptions,
  ) {}

  async writePlan(row: TenantPlanRow): Promise<void> {
    // Through the Distributed table when replicated: the insert returns once the row is on its shard.
    await this.client.insert({ table: qualified(TENANT_PLANS_TABLE), values: [row], format: "JSONEachRow", clickhouse_settings: { distributed_foreground_insert: 1 } });
  }

  async deleteTenantRows(tenantId: string): Promise<void> {
    // An ON CLUSTER statement waits for the replicas at most a little less than a request may take,
    // so its own timeout (not the HTTP client's) reports replicas that lag; the effect then retries.
    const settings: ClickHouseSettings = this.o.replicated && this.o.requestTimeoutMs !== undefined ? { distributed_ddl_task_timeout: String(Math.max(1, Math.floor(this.o.requestTimeoutMs / 1000) - 2)) } : {};
    for (const query of tenantEventDeletionSql(tenantId, { replicated: this.o.replicated })) {
      await this.client.command({ query, clickhouse_settings: settings });
    }
  }

  async tenantRowCounts(tenantId: string): Promise<TenantRowCounts> {
    const rs = await this.client.query({ ...tenantRowCountsQuery(tenantId), format: "JSONEachRow" });
    const [row] = await rs.json<{ events: string | number; usage: string | number }>();
    if (!row) throw new Error(`the event store answered no row to the count of tenant ${tenantId}'s rows`);
    return { events: Number(row.events), usage: Number(row.usage) };
  }

  async ping(): Promise<boolean> {
    return (await this.client.ping()).success;
  }

  async close(): Promise<void> {
    if (this.o.ownsClient) await this.client.close();
  }
}

/** The event store of the configuration (`PROVISIONING_CLICKHOUSE_*`): ClickHouse over HTTP(S). */
export function openEventStore(config: EventStoreConfig): ClickHouseEventStore {
  const client = createClient({
    url: config.url,
    username: config.username,
    password: config.password,
    application: "enchanted-provisioning",
    request_timeout: config.requestTimeoutMs,
    // A failed request fails its outbox effect, which logs it with the tenant and the effect (and retries).
    log: { level: ClickHouseLogLevel.OFF },
    ...(config.caPem ? { tls: { ca_cert: Buffer.from(config.caPem) } } : {}),
  });
  return new ClickHouseEventStore(client, { replicated: config.replicated, requestTimeoutMs: config.requestTimeoutMs, ownsClient: true });
}
