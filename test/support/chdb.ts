/**
 * A real ClickHouse engine for tests: chdb (ClickHouse as an in-process library), one temporary
 * data directory per test file, queried through @clickhouse/client exactly as the services query
 * a server (`chdb/connection` plugs the engine into `createClient({ connection })`).
 *
 * chdb runs every query as the user `default` and cannot hold SQL-created access entities, so
 * {@link EmbeddedClickHouse.as} reopens the engine on the same data with a users.xml in which
 * `default` *is* the principal (services/clickhouse-schema/embedded.ts): ClickHouse itself then
 * enforces that principal's grants, row filter, settings constraints and quota. Reopening takes
 * a few tens of milliseconds; quota usage starts from zero each time.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClickHouseClient } from "@clickhouse/client";
import { drainPending } from "chdb";
import type { TierCatalog } from "../../config/tiers.js";
import { openEmbeddedEngine } from "../../services/ingestor/src/sink.js";
import { embeddedServerConfigXml, embeddedUsersXml, type AccessOptions, type EmbeddedPrincipal } from "../../services/clickhouse-schema/index.js";


export const ADMIN: EmbeddedPrincipal = { kind: "admin" };
export const INGESTOR: EmbeddedPrincipal = { kind: "ingestor" };

export interface EmbeddedClickHouseOptions {
  /** The catalog principals' profiles and quotas come from. */
  readonly catalog: TierCatalog;
  /** @default {} (single-server schema) */
  readonly access?: AccessOptions;
}

export class EmbeddedClickHouse {
  private configs = 0;
  private busy = false;

  private constructor(
    /** Root of this engine's files: `data/` and the generated configurations. */
    readonly root: string,
    private readonly options: EmbeddedClickHouseOptions,
  ) {}

  /** A fresh engine in a new temporary directory. */
  static create(options: EmbeddedClickHouseOptions): EmbeddedClickHouse {
    const root = mkdtempSync(join(tmpdir(), "enchanted-chdb-"));
    mkdirSync(join(root, "data"));
    mkdirSync(join(root, "config"));
    return new EmbeddedClickHouse(root, options);
  }

  /**
   * Runs `fn` with a client whose every query runs as `principal`, then closes the engine.
   * `catalog` replaces the engine's catalog for this principal (e.g. a tiny quota).
   */
  async as<T>(principal: EmbeddedPrincipal, fn: (client: ClickHouseClient) => Promise<T>, catalog: TierCatalog = this.options.catalog): Promise<T> {
    if (this.busy) throw new Error("EmbeddedClickHouse.as: the engine is already open. Fix: await the previous as() before starting another (one engine per process).");
    this.busy = true;
    const n = this.configs++;
    const usersPath = join(this.root, "config", `users-${n}.xml`);
    const configPath = join(this.root, "config", `config-${n}.xml`);
    writeFileSync(usersPath, embeddedUsersXml(principal, catalog, this.options.access ?? {}));
    writeFileSync(configPath, embeddedServerConfigXml(usersPath));
    const dataPath = join(this.root, "data");
    // The engine on this configuration, with the ingestor's connection (TabSeparated blocks as bytes).
    const engine = await openEmbeddedEngine(dataPath, [`--config-file=${configPath}`]);
    try {
      return await fn(engine.client);
    } finally {
      await engine.client.close();
      await engine.release();
      this.busy = false;
    }
  }

  /** Removes the engine's files. */
  async destroy(): Promise<void> {
    await drainPending();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: string; type?: string; message: string }> {
  try {
    await promise;
  } catch (e) {
    return e as { code?: string; type?: string; message: string };
  }
  throw new Error("expected the ClickHouse call to fail, but it succeeded");
}

/** All rows of a SELECT, as JSON objects. */
export async function rows<T>(client: ClickHouseClient, query: { query: string; query_params?: Readonly<Record<string, unknown>>; clickhouse_settings?: Readonly<Record<string, string>> }): Promise<T[]> {
  const rs = await client.query({ ...query, format: "JSONEachRow" });
  return rs.json<T>();
}
