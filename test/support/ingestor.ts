/**
 * Helpers for the ingestor pipeline tests: a plain JetStream nats-server, event publishing with
 * known ids, the ingestor as a child process, and the exactly-once audit.
 *
 * Also a preload hook for the child (`node --import tsx --import ./test/support/ingestor.ts …`):
 * with `INGESTOR_TEST_PAUSE_AFTER_INSERT_MS` set, every successful insert prints
 * {@link INSERTED_MARKER}, its row count and its deduplication token, and then waits that long
 * before the ingestor may ack, so a test can SIGKILL the process exactly between insert and ack;
 * `INGESTOR_TEST_PRINT_INSERTS=1` prints the same lines without pausing. Nothing in the service
 * knows about it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Readable } from "node:stream";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { toBinary } from "@bufbuild/protobuf";
import type { ClickHouseClient } from "@clickhouse/client";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "../../services/ingestor/src/consumer.js";
import { eventSubject } from "../../services/nats-auth/jetstream-names.js";
import { SwarmEventSchema } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { buildEvent, typicalKind } from "../../services/ingestor/src/generator.js";
import { ClickHouseSink } from "../../services/ingestor/src/sink.js";

export const INSERTED_MARKER = "@@inserted@@";

const pauseMs = Number(process.env["INGESTOR_TEST_PAUSE_AFTER_INSERT_MS"] ?? "0");
const printInserts = process.env["INGESTOR_TEST_PRINT_INSERTS"] === "1";
if (pauseMs > 0 || printInserts) {
  const original = ClickHouseSink.prototype.insert;
  ClickHouseSink.prototype.insert = async function (this: ClickHouseSink, ...args: Parameters<ClickHouseSink["insert"]>) {
    await original.apply(this, args);
    process.stdout.write(`${INSERTED_MARKER} ${args[0].length} ${args[1]}\n`);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  };
}

/** The deduplication tokens of the inserts a child printed ({@link INSERTED_MARKER} lines), in order. */
export function insertedTokens(output: string): string[] {
  return [...output.matchAll(new RegExp(`${INSERTED_MARKER} \\d+ (\\S+)`, "g"))].map((m) => m[1] as string);
}

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export { startJetStreamServer } from "../../services/nats-auth/nats-server-process.js";

export interface PublishedEvent {
  readonly eventId: string;
  readonly subject: string;
  readonly data: Uint8Array;
}

/** `count` realistic events spread over `tenants` (one project each), deterministic from `seed`. */
export function makeEvents(tenants: readonly string[], count: number, seed: number): PublishedEvent[] {
  const now = new Date();
  return Array.from({ length: count }, (_, i) => {
    const tenantId = tenants[i % tenants.length] ?? "tenant-a";
    const event = buildEvent({ tenantId, projectId: "proj", agentId: `agent-${i % 7}`, userId: `user-${i % 3}`, kind: typicalKind(i), now, seed: seed * 1_000_003 + i });
    return { eventId: event.eventId, subject: eventSubject(tenantId, "proj"), data: toBinary(SwarmEventSchema, event) };
  });
}

/** Publishes in parallel windows; each publish is de-duplicated by its event id. */
export async function publishAll(js: JetStreamClient, events: readonly PublishedEvent[], window = 200): Promise<void> {
  for (let i = 0; i < events.length; i += window) {
    await Promise.all(events.slice(i, i + window).map((e) => js.publish(e.subject, e.data, { msgID: e.eventId })));
  }
}

export interface Audit {
  /** Rows the query returns. */
  readonly rows: number;
  readonly distinct: number;
  /** Expected event ids absent from the table. */
  readonly missing: number;
  /** Rows whose event id was not expected. */
  readonly unexpected: number;
}

/**
 * The exactly-once checker: over `from` (a table expression, e.g. `enchanted.swarm_events FINAL`)
 * restricted to `tenants`, rows = distinct = expected and nothing missing or unexpected.
 */
export async function audit(client: ClickHouseClient, from: string, tenants: readonly string[], expectedIds: readonly string[]): Promise<Audit> {
  const rs = await client.query({
    query: `SELECT toString(event_id) AS id FROM ${from} WHERE tenant_id IN {tenants:Array(String)}`,
    query_params: { tenants: [...tenants] },
    format: "JSONEachRow",
  });
  const ids = (await rs.json<{ id: string }>()).map((r) => r.id);
  const seen = new Set(ids);
  const expected = new Set(expectedIds);
  return {
    rows: ids.length,
    distinct: seen.size,
    missing: [...expected].filter((id) => !seen.has(id)).length,
    unexpected: [...seen].filter((id) => !expected.has(id)).length,
  };
}

/** An ingestor child process and its output. */
export class IngestorProcess {
  output = "";
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (d: Buffer) => (this.output += d.toString("utf8")));
    child.stderr?.on("data", (d: Buffer) => (this.output += d.toString("utf8")));
    this.exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      }),
    );
  }

  static spawn(env: Readonly<Record<string, string>>): IngestorProcess {
    const child = spawn(process.execPath, ["--import", "tsx", "--import", "./test/support/ingestor.ts", "services/ingestor/src/main.ts"], {
      cwd: ROOT,
      env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return new IngestorProcess(child);
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  /** Resolves when `pattern` appears in the output (fails on exit or timeout). */
  async waitFor(pattern: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(pattern)) {
      if (this.hasExited) throw new Error(`ingestor exited (${JSON.stringify(this.exitInfo)}) before printing ${pattern}. Output:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`ingestor did not print ${pattern} within ${timeoutMs} ms. Output:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  wait(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.hasExited) this.child.kill(signal);
    return this.exited;
  }
}

/** Polls `condition` until true; throws with `what` on timeout. */
export async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A {@link Logger} that keeps every entry (level, msg, fields) for assertions. */
export function collectingLogger(): Logger & { lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (fields, msg) => lines.push({ level: "info", msg, fields }),
    warn: (fields, msg) => lines.push({ level: "warn", msg, fields }),
    error: (fields, msg) => lines.push({ level: "error", msg, fields }),
  };
}

/** `GET http://127.0.0.1:<port>/metrics`: status, content type and the exposition text. */
export async function scrapeMetrics(port: number): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return { status: res.status, contentType: res.headers.get("content-type"), text: await res.text() };
}

/**
 * The value of one sample in Prometheus text exposition, e.g. `metricValue(text,
 * "ingestor_messages_dead_lettered_total", { reason: "tenant-mismatch" })`; `undefined` if absent.
 * Labels must match exactly (all of them).
 */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(",");
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = (m[2] ?? "").split(",").filter((l) => l !== "").sort().join(",");
    if (got === wanted) return Number(m[3]);
  }
  return undefined;
}

/** The `httpPort` an ingestor child logged in its "ingestor ready" line. */
export function loggedHttpPort(child: IngestorProcess): number {
  const port = /"httpPort":(\d+)/.exec(child.output)?.[1];
  if (port === undefined) throw new Error(`no httpPort in the ingestor's output:\n${child.output}`);
  return Number(port);
}

/**
 * A minimal ClickHouse HTTP interface in front of a client (the embedded engine, which one process
 * at a time may open): it takes the inserts `@clickhouse/client` sends (`POST /?query=INSERT INTO
 * <table> (<columns>) FORMAT JSONEachRow` plus settings, the rows as the body) and runs them on
 * `client` with the same settings, so several ingestor processes can write to one engine; and the
 * SELECTs it sends (`POST /?param_<name>=…`, the query as the body, ending in `FORMAT
 * JSONEachRow`), such as the ingestor's lookups of tenants' plans and usage, whose parameters it
 * passes on as strings (the client's escapes undone). A failed statement answers 500 with
 * ClickHouse's `Code: <n>. DB::Exception: …` text.
 */
/** A query parameter's value as the client sent it (escaped text) back to the string it formatted. */
function unescapeParam(value: string): string {
  return value.replace(/\\([tnr'\\])/g, (_, c: string) => ({ t: "\t", n: "\n", r: "\r", "'": "'", "\\": "\\" })[c] ?? c);
}

export class ClickHouseHttpFront {
  /** Inserts received (each a block one ingestor sent). */
  inserts = 0;
  /** SELECTs answered. */
  selects = 0;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(client: ClickHouseClient): Promise<ClickHouseHttpFront> {
    let front: ClickHouseHttpFront | undefined;
    const fail = (res: ServerResponse, error: unknown) => {
      const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "1002";
      res.writeHead(500, { "x-clickhouse-exception-code": code }).end(`Code: ${code}. DB::Exception: ${error instanceof Error ? error.message : String(error)}`);
    };
    const select = async (body: string, params: URLSearchParams, res: ServerResponse) => {
      const m = /^((?:SELECT|WITH)\b[\s\S]*?)\s*FORMAT (JSONEachRow)\s*$/.exec(body.trim());
      if (!m) {
        res.writeHead(400).end(`Code: 62. DB::Exception: the test front takes SELECTs in JSONEachRow only, not ${JSON.stringify(body.slice(0, 80))}. (SYNTAX_ERROR)`);
        return;
      }
      const query_params: Record<string, string> = {};
      for (const [name, value] of params) if (name.startsWith("param_")) query_params[name.slice("param_".length)] = unescapeParam(value);
      try {
        const rs = await client.query({ query: m[1] ?? "", query_params, format: "JSONEachRow" });
        const text = await rs.text();
        if (front) front.selects++;
        res.writeHead(200, { "content-type": "application/x-ndjson; charset=UTF-8", "x-clickhouse-format": "JSONEachRow" }).end(text);
      } catch (error) {
        fail(res, error);
      }
    };
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void (async () => {
          const params = new URL(req.url ?? "/", "http://front").searchParams;
          if (req.method === "POST" && !params.has("query")) {
            await select(Buffer.concat(chunks).toString("utf8"), params, res);
            return;
          }
          const query = params.get("query") ?? "";
          const m = /^INSERT INTO (\S+)\s*\(([^)]*)\)\s*FORMAT (JSONEachRow|TabSeparated)$/.exec(query.trim());
          if (req.method !== "POST" || !m) {
            res.writeHead(400).end(`Code: 62. DB::Exception: the test front takes JSONEachRow and TabSeparated inserts only, not ${JSON.stringify(query)}. (SYNTAX_ERROR)`);
            return;
          }
          const raw = Buffer.concat(chunks);
          const body = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
          // TabSeparated goes on as bytes (raw_proto is binary); JSON rows as objects.
          const values = m[3] === "TabSeparated" ? Readable.from([body], { objectMode: false }) : body.toString("utf8").split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
          const format = m[3] === "TabSeparated" ? "TabSeparated" : "JSONEachRow";
          const settings: Record<string, string> = {};
          for (const name of ["insert_deduplicate", "insert_deduplication_token", "distributed_foreground_insert", "deduplicate_blocks_in_dependent_materialized_views"]) {
            const v = params.get(name);
            if (v !== null) settings[name] = v;
          }
          try {
            await client.insert({ table: m[1] ?? "", columns: (m[2] ?? "").split(",").map((c) => c.trim().replace(/`/g, "")) as [string, ...string[]], values, format, clickhouse_settings: settings });
            if (front) front.inserts++;
            res.writeHead(200, { "content-type": "text/plain" }).end("");
          } catch (error) {
            fail(res, error);
          }
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    front = new ClickHouseHttpFront(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return front;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
