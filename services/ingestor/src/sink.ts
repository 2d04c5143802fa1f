/**
 * The ClickHouse sink: one `@clickhouse/client` in every mode (an HTTP URL in production, the
 * embedded chdb engine through `chdb/connection` by default), one insert per batch, each failure
 * classified as transient (retry, do not ack) or permanent (stop acking, become unready). The
 * same client is the consumer's {@link TenantStore}: tenants' plans and usage, and the counts of
 * the events it refused.
 */
import { randomUUID } from "node:crypto";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import {
  qualified,
  SWARM_EVENTS_BLOCK_COLUMNS,
  SWARM_EVENTS_BLOCK_FORMAT,
  SWARM_EVENTS_INSERT_COLUMNS,
  SWARM_EVENTS_INSERT_FORMAT,
  SWARM_EVENTS_INSERT_SETTINGS,
  SWARM_EVENTS_TABLE,
  QUOTA_KEY_SETTING,
  TENANT_BINDING_SETTING,
  TENANT_PLANS_TABLE,
  TENANT_USAGE_TABLE,
  tenantPolicyQuery,
  tenantRefusalsInsert,
  type SwarmEventRow,
  type TenantPolicyRow,
  type TenantRefusals,
} from "../../clickhouse-schema/index.js";
import { ClickHouseSchemaError } from "../../clickhouse-schema/errors.js";
import { InvalidTenantIdError } from "../../../config/tenancy.js";
import { quoteString } from "../../clickhouse-schema/sql.js";
import type { IngestorConfig } from "./config.js";
import { RowBlock } from "./row-encoder.js";

/**
 * ClickHouse error codes that no retry can fix: the table, database or a column is missing, or
 * the user may not insert or log in. Everything else (network errors, timeouts, too many parts,
 * memory, read-only replicas) is transient.
 */
export const PERMANENT_ERROR_CODES: Readonly<Record<string, string>> = {
  "16": "NO_SUCH_COLUMN_IN_TABLE",
  "60": "UNKNOWN_TABLE",
  "81": "UNKNOWN_DATABASE",
  "192": "UNKNOWN_USER",
  "497": "ACCESS_DENIED",
  "516": "AUTHENTICATION_FAILED",
};

export type SinkFailureKind = "transient" | "permanent";

/** An insert that failed; {@link kind} says whether retrying can help. */
export class SinkError extends Error {
  override readonly name = "SinkError";
  readonly code: string;
  constructor(
    readonly kind: SinkFailureKind,
    /** The ClickHouse error code (e.g. "60") or the Node.js error code, or "UNKNOWN". */
    readonly clickhouseCode: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = kind === "permanent" ? "E_SINK_PERMANENT" : "E_SINK_TRANSIENT";
  }
}

/**
 * Classifies anything an insert (or, `operation` "read", a lookup of `rows` tenants) threw. A
 * statement that could not even be built (a bad argument: a bug, not an outage) is permanent.
 */
export function classifySinkError(error: unknown, table: string, rows: number, operation: "insert" | "read" = "insert"): SinkError {
  if (error instanceof SinkError) return error;
  const what = operation === "insert" ? `insert of ${rows} rows into ${table}` : `read of ${rows} tenants from ${table}`;
  if (error instanceof ClickHouseSchemaError || error instanceof InvalidTenantIdError) {
    return new SinkError("permanent", error.code, `${what} could not be built: ${error.message}`, { cause: error });
  }
  const code = typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : "UNKNOWN";
  const type = typeof error === "object" && error !== null && "type" in error && typeof error.type === "string" ? error.type : undefined;
  const name = PERMANENT_ERROR_CODES[code];
  const kind: SinkFailureKind = name !== undefined ? "permanent" : "transient";
  const message = error instanceof Error ? error.message : String(error);
  const fix =
    kind === "permanent"
      ? "run the migration (schemaSql) and check the ingestor user's grants (CLICKHOUSE_USERS.ingestor, ingestorPrivileges: INSERT on the event and usage tables, SELECT on usage and plans)"
      : `the ${operation} is retried with backoff; check ClickHouse health if this repeats`;
  return new SinkError(kind, code, `${what} failed (${kind}, code ${code}${type ? ` ${type}` : name ? ` ${name}` : ""}): ${message}. Fix: ${fix}.`, { cause: error });
}

/** What a sink inserts: row objects (JSONEachRow), or a block the consumer's hot path built. */
export type InsertRows = readonly SwarmEventRow[] | RowBlock;

/** What the consumer needs from a sink. */
export interface Sink {
  /**
   * Inserts `rows` in one block. `token` is the batch's `insert_deduplication_token`: the same
   * token with the same rows is inserted once. Resolves when the rows are stored; rejects with a
   * {@link SinkError}. A {@link RowBlock} is the caller's again once this settles (the consumer
   * reuses its buffer for a later batch): keep no reference to it or to its bytes.
   */
  insert(rows: InsertRows, token: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the consumer reads and writes of its tenants besides their events (./tenants.ts): their
 * plan rows and daily usage, and the counts of the events it refused. Both reject with a
 * {@link SinkError}, classified like an insert's.
 */
export interface TenantStore {
  /** The plan rows of `tenants` (1 to `MAX_TENANTS_PER_LOOKUP`) and their usage on `days` ('YYYY-MM-DD'): one query. */
  readTenants(tenants: readonly string[], days: readonly string[]): Promise<TenantPolicyRow[]>;
  /** Adds refused-event counts to the usage table in one block, deduplicated by `token`; resolves when they are stored. */
  recordRefusals(refusals: readonly TenantRefusals[], token: string): Promise<void>;
}

/** `store` has the {@link TenantStore} methods (a sink override may or may not). */
export function isTenantStore(store: unknown): store is TenantStore {
  const s = store as Partial<TenantStore> | null | undefined;
  return typeof s?.readTenants === "function" && typeof s.recordRefusals === "function";
}

/**
 * chdb types its Connection against @clickhouse/client-common 1.22, whose settings type differs
 * from the copy @clickhouse/client 1.23 bundles; the runtime contract is the one the hook defines.
 */
type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>["connection"]>;
type ConnInsertParams = Parameters<ClientConnection["insert"]>[0];
type ConnInsertResult = Awaited<ReturnType<ClientConnection["insert"]>>;

/** The `swarm_events` sink and the tenant store over any `@clickhouse/client`. */
export class ClickHouseSink implements Sink, TenantStore {
  private readonly rowColumns = [...SWARM_EVENTS_INSERT_COLUMNS] as [string, ...string[]];
  private readonly blockColumns = [...SWARM_EVENTS_BLOCK_COLUMNS] as [string, ...string[]];
  constructor(
    readonly client: ClickHouseClient,
    private readonly onClose: () => Promise<void> = async () => {},
    readonly table: string = qualified(SWARM_EVENTS_TABLE),
  ) {}

  async insert(rows: InsertRows, token: string): Promise<void> {
    if (rows.length === 0) return;
    const clickhouse_settings = { ...SWARM_EVENTS_INSERT_SETTINGS, insert_deduplication_token: token };
    try {
      if (rows instanceof RowBlock) {
        // A raw format: the client sends the bytes as they are (HTTP body, or the engine's parser).
        await this.client.insert({
          table: this.table,
          values: Readable.from([rows.bytes()], { objectMode: false }),
          format: SWARM_EVENTS_BLOCK_FORMAT,
          columns: this.blockColumns,
          clickhouse_settings,
        });
        return;
      }
      await this.client.insert({
        table: this.table,
        values: rows as SwarmEventRow[],
        format: SWARM_EVENTS_INSERT_FORMAT,
        columns: this.rowColumns,
        clickhouse_settings,
      });
    } catch (error) {
      throw classifySinkError(error, this.table, rows.length);
    }
  }

  async readTenants(tenants: readonly string[], days: readonly string[]): Promise<TenantPolicyRow[]> {
    const from = `${qualified(TENANT_PLANS_TABLE)} and ${qualified(TENANT_USAGE_TABLE)}`;
    try {
      const rs = await this.client.query({ ...tenantPolicyQuery({ tenants, days }), format: "JSONEachRow" });
      return await rs.json<TenantPolicyRow>();
    } catch (error) {
      throw classifySinkError(error, from, tenants.length, "read");
    }
  }

  async recordRefusals(refusals: readonly TenantRefusals[], token: string): Promise<void> {
    try {
      await this.client.insert(tenantRefusalsInsert(refusals, token));
    } catch (error) {
      throw classifySinkError(error, qualified(TENANT_USAGE_TABLE), refusals.length);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.onClose();
  }
}

/**
 * A query's settings as a server scopes them, on the embedded engine: chdb applies a query's
 * settings as `SET` statements that last for the rest of its session (an upstream quirk), so
 * after a query bound to a tenant (`TENANT_BINDING_SETTING`) the next query that names no
 * binding is sent an empty one, and never runs bound to the previous query's tenant.
 * `quota_key` is a parameter of the HTTP interface, not a setting; the embedded engine has no
 * per-query quota key, so it is dropped.
 */
class PerQuerySettings {
  private bound = false;

  apply<P extends { clickhouse_settings?: Record<string, unknown> | undefined }>(params: P): P {
    const { [QUOTA_KEY_SETTING]: _key, ...settings } = params.clickhouse_settings ?? {};
    void _key;
    const binding = settings[TENANT_BINDING_SETTING];
    if (binding !== undefined && binding !== "") {
      this.bound = true;
      return { ...params, clickhouse_settings: settings };
    }
    if (!this.bound) return params.clickhouse_settings === undefined ? params : { ...params, clickhouse_settings: settings };
    this.bound = false;
    return { ...params, clickhouse_settings: { ...settings, [TENANT_BINDING_SETTING]: "" } };
  }
}

/** `INSERT INTO <table> (<columns>) FORMAT TabSeparated`, as `client.insert` writes it. */
const BLOCK_INSERT = new RegExp(`^INSERT INTO ([A-Za-z0-9_.]+) \\(([A-Za-z0-9_, ]+)\\) FORMAT (${SWARM_EVENTS_BLOCK_FORMAT})$`);
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A setting's value as SQL: numbers and booleans as numbers, everything else a quoted string. */
function settingLiteral(value: string | number | boolean): string {
  if (typeof value === "boolean") return value ? "1" : "0";
  if (typeof value === "number") return String(value);
  return quoteString(value);
}

/**
 * `chdb/connection` for `createClient({ connection })`, with one change: an insert in
 * {@link SWARM_EVENTS_BLOCK_FORMAT} is written, as its bytes, to a file in `spoolDir` and read
 * by the engine with `INSERT INTO … FROM INFILE … FORMAT TabSeparated`, then the file is removed.
 *
 * Why not inline: chdb takes an insert's body only as part of the query text (its generic
 * `insert` even decodes the body to a string, which garbles raw bytes such as `raw_proto`), and
 * the engine then pays about 5 ns per byte for it; read from a file, the same rows parse in less
 * than half the CPU (about 2 µs less per 800-byte row: `npm run bench:ingest`, and the figures in
 * the ingestor issue). The rows, the columns, the settings (in the query's own `SETTINGS`, so the
 * deduplication token is the insert's alone) and the errors are the same as inline. Everything
 * else is chdb's own connection, so the client is the same `@clickhouse/client` as in production
 * and errors keep their ClickHouse codes.
 */
export class ChdbBlockConnection implements ClientConnection {
  constructor(
    private readonly inner: ClientConnection,
    /** Where insert bodies wait for the engine to read them (removed after each insert). */
    private readonly spoolDir: string,
  ) {}

  private readonly settings = new PerQuerySettings();

  ping(params: Parameters<ClientConnection["ping"]>[0]): ReturnType<ClientConnection["ping"]> {
    return this.inner.ping(params);
  }
  query(params: Parameters<ClientConnection["query"]>[0]): ReturnType<ClientConnection["query"]> {
    return this.inner.query(this.settings.apply(params));
  }
  command(params: Parameters<ClientConnection["command"]>[0]): ReturnType<ClientConnection["command"]> {
    return this.inner.command(this.settings.apply(params));
  }
  exec(params: Parameters<ClientConnection["exec"]>[0]): ReturnType<ClientConnection["exec"]> {
    return this.inner.exec(this.settings.apply(params));
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  async insert(original: ConnInsertParams): Promise<ConnInsertResult> {
    let params = original;
    params = this.settings.apply(original);
    const match = BLOCK_INSERT.exec(params.query);
    if (match === null || typeof params.values === "string") return this.inner.insert(params);
    const chunks: Buffer[] = [];
    for await (const chunk of params.values as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
    const values = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    const query_id = params.query_id ?? randomUUID();
    if (values.byteLength === 0) return { query_id, response_headers: {}, http_status_code: 200, summary: insertSummary(0, 0, 0) } as ConnInsertResult;
    const settings: string[] = [];
    for (const [name, value] of Object.entries(params.clickhouse_settings ?? {})) {
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") continue;
      if (!SETTING_NAME.test(name)) throw new Error(`insert setting ${JSON.stringify(name)} is not a setting name. Fix: use ClickHouse setting names (letters, digits, underscores).`);
      settings.push(`${name} = ${settingLiteral(value)}`);
    }
    const file = join(this.spoolDir, `${randomUUID()}.tsv`);
    const query = `INSERT INTO ${match[1] as string} (${match[2] as string}) FROM INFILE ${quoteString(file)}${settings.length > 0 ? ` SETTINGS ${settings.join(", ")}` : ""} FORMAT ${match[3] as string}`;
    try {
      await writeWhole(file, values); // inside the try: a partly written file is removed too
      const result = await this.inner.command({ query, query_id, ...(params.abort_signal ? { abort_signal: params.abort_signal } : {}) } as Parameters<ClientConnection["command"]>[0]);
      return { query_id, response_headers: {}, http_status_code: 200, summary: result.summary ?? insertSummary(0, values.byteLength, 0) } as ConnInsertResult;
    } finally {
      await rm(file, { force: true });
    }
  }
}

/**
 * Writes `bytes` to a new file in as few writes as the kernel takes (one, normally).
 * `fs.promises.writeFile` writes in 512 KiB chunks, each a round trip through the event loop.
 */
async function writeWhole(file: string, bytes: Buffer): Promise<void> {
  const handle = await open(file, "w");
  try {
    for (let offset = 0; offset < bytes.byteLength; ) offset += (await handle.write(bytes, offset, bytes.byteLength - offset, offset)).bytesWritten;
  } finally {
    await handle.close();
  }
}

function insertSummary(rows: number, bytes: number, elapsedNs: number): NonNullable<ConnInsertResult["summary"]> {
  return { read_rows: String(rows), read_bytes: String(bytes), written_rows: String(rows), written_bytes: String(bytes), result_rows: "0", result_bytes: "0", total_rows_to_read: "0", elapsed_ns: String(elapsedNs) } as NonNullable<ConnInsertResult["summary"]>;
}

/** The directory, inside the engine's data directory, of {@link ChdbBlockConnection}'s insert bodies. */
export const INSERT_SPOOL_DIR = "insert-spool";

/** A client on a store, and what else has to be closed after the client (the embedded engine). */
export interface ClickHouseHandle {
  readonly client: ClickHouseClient;
  /** Closes the engine (nothing over HTTP); call after `client.close()`. */
  release(): Promise<void>;
}

/**
 * Opens the embedded engine (chdb) on `path` for the life of the returned handle, with a client
 * whose connection is chdb's behind {@link ChdbBlockConnection}: every embedded client (the sink,
 * the query CLI, `npm run local`, tests) sends TabSeparated blocks as bytes. chdb is imported
 * here, when asked for, so the production image (HTTP only) never loads it. `connectionArgs`:
 * extra engine arguments (e.g. `--config-file=…`).
 */
export async function openEmbeddedEngine(path: string, connectionArgs: readonly string[] = []): Promise<ClickHouseHandle> {
  const { Session, drainPending } = await import("chdb");
  const { createChdbConnection } = await import("chdb/connection");
  // The Session binds the engine to this directory (and configuration); the connection shares it.
  const session = connectionArgs.length > 0 ? new Session(path, { connectionArgs: [...connectionArgs] }) : new Session(path);
  // Insert bodies of a crashed run are of no use (their batches were not acked): start empty.
  const spoolDir = join(path, INSERT_SPOOL_DIR);
  await rm(spoolDir, { recursive: true, force: true });
  await mkdir(spoolDir, { recursive: true });
  const client = createClient({ connection: new ChdbBlockConnection(createChdbConnection({ path }) as unknown as ClientConnection, spoolDir) });
  return {
    client,
    async release() {
      session.close();
      await drainPending();
    },
  };
}

/** A client on the store the configuration names: the HTTP interface, or the embedded engine. */
export async function openClickHouse(config: IngestorConfig["clickhouse"]): Promise<ClickHouseHandle> {
  if (config.kind === "http") {
    return { client: createClient({ url: config.url, username: config.username, password: config.password, request_timeout: 60_000 }), release: async () => {} };
  }
  return openEmbeddedEngine(config.path);
}

/** The sink the configuration names: the HTTP interface, or the embedded engine on its data directory. */
export async function openSink(config: IngestorConfig["clickhouse"]): Promise<ClickHouseSink> {
  const store = await openClickHouse(config);
  return new ClickHouseSink(store.client, () => store.release());
}
