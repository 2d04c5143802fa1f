/**
 * The seed conversation's two questions from a terminal, always for one tenant:
 *
 * ```
 * npm run query -- crash-context --tenant acme --agent coder-1 --before 2026-11-25T15:00:00Z --limit 10
 * npm run query -- loops --tenant acme --window 1h --min 5
 * ```
 *
 * | flag | command | default | meaning |
 * |---|---|---|---|
 * | `--tenant` | both | (required) | the tenant id; every query is scoped to it |
 * | `--agent` | crash-context | (required) | the agent whose decisions to list |
 * | `--before` | crash-context | now | decisions strictly before this ISO 8601 moment (the crash) |
 * | `--limit` | both | 10 / 100 | at most this many rows |
 * | `--window` | loops | `1h` | window length: a whole number of `s`, `m`, `h` or `d` |
 * | `--min` | loops | 5 | report resources modified more than this many times |
 * | `--until` | loops | now | end of the window (exclusive), ISO 8601 |
 *
 * The target is the ingestor's own: `INGESTOR_CLICKHOUSE_URL` (HTTP, as `INGESTOR_CLICKHOUSE_USER`
 * / `INGESTOR_CLICKHOUSE_PASSWORD`: use a user that may SELECT), else the embedded engine (chdb)
 * on `INGESTOR_CHDB_PATH` (see config.ts). Exit 0 with a table (or "no rows"); exit 2 on a bad
 * flag, naming it and the fix; exit 1 when the store cannot answer.
 */
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { ClickHouseClient } from "@clickhouse/client";
import { InvalidTenantIdError, assertTenantId } from "../../../config/tenancy.js";
import { crashContextQuery, hallucinationLoopsQuery, type BoundQuery, type CrashContextRow, type HallucinationLoopRow } from "../../clickhouse-schema/queries.js";
import { IngestorConfigError, loadIngestorConfig, type IngestorConfig } from "./config.js";
import { openClickHouse } from "./sink.js";

/** A command-line argument the CLI cannot run with. */
export class CliUsageError extends Error {
  override readonly name = "CliUsageError";
  readonly code = "E_CLI_USAGE";
  constructor(
    /** The flag (`--window`) or `command`. */
    readonly flag: string,
    readonly value: string | undefined,
    problem: string,
    fix: string,
  ) {
    super(`${flag}${value === undefined ? "" : ` = ${JSON.stringify(value)}`} ${problem}. Fix: ${fix}.`);
  }
}

export const COMMANDS = ["crash-context", "loops"] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface CrashContextCommand {
  readonly command: "crash-context";
  readonly tenantId: string;
  readonly agentId: string;
  readonly before: Date;
  readonly limit: number;
}

export interface LoopsCommand {
  readonly command: "loops";
  readonly tenantId: string;
  readonly until: Date;
  readonly windowSeconds: number;
  readonly minModifications: number;
  readonly limit: number;
}

export type Command = CrashContextCommand | LoopsCommand;

const DEFAULT_CRASH_CONTEXT_LIMIT = 10;
const DEFAULT_LOOP_LIMIT = 100;
const DEFAULT_WINDOW = "1h";
const DEFAULT_MIN_MODIFICATIONS = 5;
/** The queries' own bounds (services/clickhouse-schema/queries.ts). */
const MAX_ROWS = 10_000;
const MAX_WINDOW_SECONDS = 31_536_000;
const MAX_MIN_MODIFICATIONS = 1_000_000_000;
const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600, d: 86_400 };
const ISO_MOMENT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

const OPTIONS = {
  tenant: { type: "string" },
  agent: { type: "string" },
  before: { type: "string" },
  until: { type: "string" },
  limit: { type: "string" },
  window: { type: "string" },
  min: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const FLAGS_OF: Readonly<Record<CommandName, readonly (keyof typeof OPTIONS)[]>> = {
  "crash-context": ["tenant", "agent", "before", "limit", "help"],
  loops: ["tenant", "window", "min", "until", "limit", "help"],
};

export const USAGE = `Usage:
  npm run query -- crash-context --tenant <id> --agent <agent_id> [--before <ISO 8601>] [--limit 10]
  npm run query -- loops --tenant <id> [--window 1h] [--min 5] [--until <ISO 8601>] [--limit 100]
Target: INGESTOR_CLICKHOUSE_URL (HTTP) if set, else the embedded engine at INGESTOR_CHDB_PATH (default ./.data/chdb).`;

/** A window like `30m`, `1h`, `2d` (or `90s`) in seconds. */
export function parseWindow(value: string, flag = "--window"): number {
  const m = /^(\d+)([smhd])$/.exec(value);
  const seconds = m ? Number(m[1]) * (UNIT_SECONDS[m[2] ?? ""] ?? 0) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds < 1 || seconds > MAX_WINDOW_SECONDS) {
    throw new CliUsageError(flag, value, "is not a window", `use a whole number followed by s, m, h or d (e.g. 30m, 1h, 2d), at most ${MAX_WINDOW_SECONDS / 86_400}d`);
  }
  return seconds;
}

function parseCount(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new CliUsageError(flag, value, `is not a whole number from 1 to ${max}`, `pass an integer from 1 to ${max}`);
  }
  return n;
}

function parseMoment(flag: string, value: string): Date {
  const d = new Date(value);
  if (!ISO_MOMENT.test(value) || Number.isNaN(d.getTime())) {
    throw new CliUsageError(flag, value, "is not an ISO 8601 moment", "use a UTC timestamp like 2026-11-25T15:00:00Z (or with an offset, +01:00)");
  }
  return d;
}

function required(flag: string, value: string | undefined, fix: string): string {
  if (value === undefined || value === "") throw new CliUsageError(flag, value, "is required", fix);
  return value;
}

function parseTenant(value: string | undefined): string {
  const v = required("--tenant", value, "pass the tenant id, e.g. --tenant acme");
  try {
    return assertTenantId(v, "--tenant");
  } catch (error) {
    if (error instanceof InvalidTenantIdError) throw new CliUsageError("--tenant", v, "is not a valid tenant id", error.message.split("Fix: ")[1]?.replace(/\.$/, "") ?? "pass a tenant id");
    throw error;
  }
}

/** The command `argv` (without `node` and the script) asks for; throws {@link CliUsageError}. `now` is the default end of time ranges. */
export function parseCommand(argv: readonly string[], now: Date = new Date()): Command | "help" {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const flag = /'(-[^' ]+)/.exec(message)?.[1] ?? "arguments";
    throw new CliUsageError(flag, undefined, `cannot be parsed (${message})`, "check the spelling against the usage below");
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  const name = positionals[0];
  if (name === undefined || !(COMMANDS as readonly string[]).includes(name) || positionals.length > 1) {
    throw new CliUsageError("command", positionals.join(" ") || undefined, name === undefined ? "is missing" : "is not a command", `run one of: ${COMMANDS.join(", ")}`);
  }
  const command = name as CommandName;
  for (const key of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (!FLAGS_OF[command].includes(key)) {
      throw new CliUsageError(`--${key}`, String(values[key]), `is not a flag of ${command}`, `use only ${FLAGS_OF[command].map((f) => `--${f}`).join(", ")}`);
    }
  }
  const tenantId = parseTenant(values.tenant);
  if (command === "crash-context") {
    return {
      command,
      tenantId,
      agentId: required("--agent", values.agent, "pass the agent_id whose decisions to list, e.g. --agent coder-1"),
      before: values.before === undefined ? now : parseMoment("--before", values.before),
      limit: values.limit === undefined ? DEFAULT_CRASH_CONTEXT_LIMIT : parseCount("--limit", values.limit, MAX_ROWS),
    };
  }
  return {
    command,
    tenantId,
    until: values.until === undefined ? now : parseMoment("--until", values.until),
    windowSeconds: parseWindow(values.window ?? DEFAULT_WINDOW),
    minModifications: values.min === undefined ? DEFAULT_MIN_MODIFICATIONS : parseCount("--min", values.min, MAX_MIN_MODIFICATIONS),
    limit: values.limit === undefined ? DEFAULT_LOOP_LIMIT : parseCount("--limit", values.limit, MAX_ROWS),
  };
}

/** The bound, tenant-scoped query of a command. */
export function boundQuery(c: Command): BoundQuery {
  return c.command === "crash-context"
    ? crashContextQuery({ tenantId: c.tenantId, agentId: c.agentId, before: c.before, limit: c.limit })
    : hallucinationLoopsQuery({ tenantId: c.tenantId, until: c.until, windowSeconds: c.windowSeconds, minModifications: c.minModifications, limit: c.limit });
}

export type CommandResult = { readonly command: "crash-context"; readonly rows: CrashContextRow[] } | { readonly command: "loops"; readonly rows: HallucinationLoopRow[] };

/** Runs a command's query on `client`. */
export async function runCommand(client: ClickHouseClient, c: Command): Promise<CommandResult> {
  const q = boundQuery(c);
  const rs = await client.query({ query: q.query, query_params: { ...q.query_params }, format: "JSONEachRow" });
  return c.command === "crash-context" ? { command: c.command, rows: await rs.json<CrashContextRow>() } : { command: c.command, rows: await rs.json<HallucinationLoopRow>() };
}

/** A column of {@link formatTable}: a row key, or a header with a function that renders the cell. */
export type TableColumn<T> = (keyof T & string) | { readonly header: string; readonly value: (row: T) => string; readonly align?: "left" | "right" };

/**
 * Rows as an aligned text table: a header, a rule, one line per row; columns separated by two
 * spaces, no trailing blanks (so the last column may be long, e.g. a rationale). `no rows` when empty.
 */
export function formatTable<T>(rows: readonly T[], columns: readonly TableColumn<T>[]): string {
  if (rows.length === 0) return "no rows";
  const cols = columns.map((c) =>
    typeof c === "string" ? { header: c, value: (r: T) => String(r[c] ?? ""), align: "left" as const } : { header: c.header, value: c.value, align: c.align ?? "left" },
  );
  const cells = rows.map((r) => cols.map((c) => c.value(r).replace(/[\r\n\t]+/g, " ")));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...cells.map((row) => (row[i] ?? "").length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => {
        const w = widths[i] ?? 0;
        if (cols[i]?.align === "right") return v.padStart(w);
        return i === values.length - 1 ? v : v.padEnd(w);
      })
      .join("  ")
      .trimEnd();
  return [line(cols.map((c) => c.header)), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n");
}

export const CRASH_CONTEXT_COLUMNS: readonly TableColumn<CrashContextRow>[] = [
  "timestamp",
  { header: "role", value: (r) => r.agent_role },
  { header: "confidence", value: (r) => Number(r.confidence_score).toFixed(2), align: "right" },
  "event_id",
  "rationale",
];

export const LOOP_COLUMNS: readonly TableColumn<HallucinationLoopRow>[] = [
  "project_id",
  "target_resource",
  { header: "modifications", value: (r) => String(r.modifications), align: "right" },
  { header: "agents", value: (r) => String(r.agents), align: "right" },
  "first_modified",
  "last_modified",
];

/** A result as the CLI prints it. */
export function renderResult(result: CommandResult): string {
  return result.command === "crash-context" ? formatTable(result.rows, CRASH_CONTEXT_COLUMNS) : formatTable(result.rows, LOOP_COLUMNS);
}

export interface QueryTarget {
  readonly client: ClickHouseClient;
  close(): Promise<void>;
}

/** A client on the store the ingestor writes to (as sink.ts opens it). */
export async function openQueryTarget(config: IngestorConfig["clickhouse"]): Promise<QueryTarget> {
  if (config.kind === "embedded" && !existsSync(config.path)) {
    throw new IngestorConfigError("INGESTOR_CHDB_PATH", config.path, "does not exist", "point it at the ingestor's chdb directory (or set INGESTOR_CLICKHOUSE_URL); `npm run local` shows a whole run");
  }
  const store = await openClickHouse(config);
  return {
    client: store.client,
    async close() {
      await store.client.close();
      await store.release();
    },
  };
}

/** The CLI: returns the exit code; writes the table to `out` and errors to `err`. */
export async function runCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
  out: (text: string) => void = (t) => process.stdout.write(t),
  err: (text: string) => void = (t) => process.stderr.write(t),
): Promise<number> {
  let command: Command | "help";
  let config: IngestorConfig["clickhouse"];
  try {
    command = parseCommand(argv);
    config = loadIngestorConfig(env).clickhouse;
  } catch (error) {
    if (error instanceof CliUsageError || error instanceof IngestorConfigError) {
      err(`error: ${error.message}\n${error instanceof CliUsageError ? `${USAGE}\n` : ""}`);
      return 2;
    }
    throw error;
  }
  if (command === "help") {
    out(`${USAGE}\n`);
    return 0;
  }
  let target: QueryTarget;
  try {
    target = await openQueryTarget(config);
  } catch (error) {
    err(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    out(`${renderResult(await runCommand(target.client, command))}\n`);
    return 0;
  } catch (error) {
    const where = config.kind === "http" ? `INGESTOR_CLICKHOUSE_URL = ${config.url}` : `INGESTOR_CHDB_PATH = ${config.path}`;
    err(`error: the ${command.command} query failed on ${where}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await target.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
