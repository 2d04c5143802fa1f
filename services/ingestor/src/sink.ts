/**
 * The ClickHouse sink: one `@clickhouse/client` in every mode (an HTTP URL in production, the
 * embedded chdb engine through `chdb/connection` by default), one insert per batch, each failure
 * classified as transient (retry, do not ack) or permanent (stop acking, become unready).
 */
import { Readable } from "node:stream";
import { createClient, type ClickHouseClient } from "@clickhouse/client";
import { qualified, SWARM_EVENTS_INSERT_COLUMNS, SWARM_EVENTS_INSERT_FORMAT, SWARM_EVENTS_INSERT_SETTINGS, SWARM_EVENTS_TABLE, type SwarmEventRow } from "../../clickhouse-schema/index.js";
import type { IngestorConfig } from "./config.js";

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

/** Classifies anything an insert threw. */
export function classifySinkError(error: unknown, table: string, rows: number): SinkError {
  if (error instanceof SinkError) return error;
  const code = typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : "UNKNOWN";
  const type = typeof error === "object" && error !== null && "type" in error && typeof error.type === "string" ? error.type : undefined;
  const name = PERMANENT_ERROR_CODES[code];
  const kind: SinkFailureKind = name !== undefined ? "permanent" : "transient";
  const what = error instanceof Error ? error.message : String(error);
  const fix =
    kind === "permanent"
      ? "run the migration (schemaSql) and check the ingestor user's grants (CLICKHOUSE_USERS.ingestor: INSERT on the event tables)"
      : "the insert is retried with backoff; check ClickHouse health if this repeats";
  return new SinkError(kind, code, `insert of ${rows} rows into ${table} failed (${kind}, code ${code}${type ? ` ${type}` : name ? ` ${name}` : ""}): ${what}. Fix: ${fix}.`, { cause: error });
}

/**
 * Rows already in the insert format ({@link SWARM_EVENTS_INSERT_FORMAT}, one line each), as the
 * consumer's hot path produces them (`row-encoder.ts`): no row objects, no second encoding.
 */
export class EncodedRows {
  constructor(readonly lines: readonly string[]) {}
  get length(): number {
    return this.lines.length;
  }
}

/** What a sink inserts: row objects, or lines already encoded. */
export type InsertRows = readonly SwarmEventRow[] | EncodedRows;

/** What the consumer needs from a sink. */
export interface Sink {
  /**
   * Inserts `rows` in one block. `token` is the batch's `insert_deduplication_token`: the same
   * token with the same rows is inserted once. Resolves when the rows are stored; rejects with a
   * {@link SinkError}.
   */
  insert(rows: InsertRows, token: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * chdb types its Connection against @clickhouse/client-common 1.22, whose settings type differs
 * from the copy @clickhouse/client 1.23 bundles; the runtime contract is the one the hook defines.
 */
type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>["connection"]>;

/** The `swarm_events` sink over any `@clickhouse/client`. */
export class ClickHouseSink implements Sink {
  private readonly columns = [...SWARM_EVENTS_INSERT_COLUMNS] as [string, ...string[]];
  constructor(
    readonly client: ClickHouseClient,
    private readonly onClose: () => Promise<void> = async () => {},
    readonly table: string = qualified(SWARM_EVENTS_TABLE),
  ) {}

  async insert(rows: InsertRows, token: string): Promise<void> {
    if (rows.length === 0) return;
    const clickhouse_settings = { ...SWARM_EVENTS_INSERT_SETTINGS, insert_deduplication_token: token };
    try {
      if (rows instanceof EncodedRows) {
        // The lines are the body as they are: `exec` sends a byte stream after the statement.
        const result = await this.client.exec({
          query: `INSERT INTO ${this.table} (${this.columns.join(", ")}) FORMAT ${SWARM_EVENTS_INSERT_FORMAT}`,
          values: Readable.from([rows.lines.join("\n")], { objectMode: false }),
          clickhouse_settings,
        });
        result.stream.destroy();
        return;
      }
      await this.client.insert({
        table: this.table,
        values: rows as SwarmEventRow[],
        format: SWARM_EVENTS_INSERT_FORMAT,
        columns: this.columns,
        clickhouse_settings,
      });
    } catch (error) {
      throw classifySinkError(error, this.table, rows.length);
    }
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.onClose();
  }
}

/** The sink the configuration names: the HTTP interface, or the embedded engine on its data directory. */
export async function openSink(config: IngestorConfig["clickhouse"]): Promise<ClickHouseSink> {
  if (config.kind === "http") {
    return new ClickHouseSink(createClient({ url: config.url, username: config.username, password: config.password, request_timeout: 60_000 }));
  }
  const { Session, drainPending } = await import("chdb");
  const { createChdbConnection } = await import("chdb/connection");
  // The Session owns the engine on this directory for the life of the process.
  const session = new Session(config.path);
  const client = createClient({ connection: createChdbConnection({ path: config.path }) as unknown as ClientConnection });
  return new ClickHouseSink(client, async () => {
    session.close();
    await drainPending();
  });
}
