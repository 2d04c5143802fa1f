/**
 * The query CLI and the local run, as a user runs them: child processes. The CLI reads an
 * embedded engine (chdb) prepared here with the events of two tenants that share agent names;
 * `npm run local` runs the whole pipeline (nats-server, ingestor, generator) end to end.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadEnvironment, loadTierCatalog } from "../../config/index.js";
import { DEFAULT_PLAN_TIER, PLAN_TIERS } from "../../config/tiers.js";
import { qualified, schemaSql, SWARM_EVENTS_TABLE, type SwarmEventRow } from "../../services/clickhouse-schema/index.js";
import { formatTable } from "../../services/ingestor/src/cli.js";
import { decodeEvent } from "../../services/ingestor/src/event.js";
import { ChangeKind, SwarmEventSchema } from "../../services/ingestor/src/gen/enchanted/events/v1/events_pb.js";
import { buildEvent } from "../../services/ingestor/src/generator.js";
import { ClickHouseSink } from "../../services/ingestor/src/sink.js";
import { eventSubject } from "../../services/nats-auth/streams.js";
import { toBinary } from "@bufbuild/protobuf";
import type { EventType } from "../../services/clickhouse-schema/table.js";
import { ADMIN, EmbeddedClickHouse, rows as selectRows } from "../support/chdb.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ACME = "cli-acme";
const GLOBEX = "cli-globex";
const PROJECT = "shop";
const CRASH = new Date("2026-11-25T15:00:00Z");
const MINUTE = 60_000;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

let engine: EmbeddedClickHouse;
const rows: SwarmEventRow[] = [];
let seed = 0;

function add(tenantId: string, agentId: string, kind: EventType, at: Date, resource?: string): SwarmEventRow {
  const event = buildEvent({ tenantId, projectId: PROJECT, agentId, userId: "user-1", kind, now: at, seed: ++seed });
  if (resource !== undefined && event.payload.case === "stateChange") {
    event.payload.value.targetResource = resource;
    event.payload.value.changeKind = ChangeKind.MODIFIED;
  }
  const r = decodeEvent(eventSubject(tenantId, PROJECT), toBinary(SwarmEventSchema, event), { streamTimestampMs: Date.now(), retentionDays: PLAN_TIERS[DEFAULT_PLAN_TIER].events.retentionDays });
  if (!r.ok) throw new Error(`fixture event refused: ${r.reason} ${r.detail}`);
  rows.push(r.row);
  return r.row;
}

/** acme's coder-1 decisions before the crash, newest first. */
const acmeDecisions: SwarmEventRow[] = [];

function fixture(): void {
  for (let k = 1; k <= 15; k++) {
    acmeDecisions.push(add(ACME, "coder-1", "decision", new Date(CRASH.getTime() - k * MINUTE)));
    // Same agent name in another tenant, interleaved in time: must never appear in acme's answer.
    add(GLOBEX, "coder-1", "decision", new Date(CRASH.getTime() - k * MINUTE + 30_000));
  }
  for (const tenant of [ACME, GLOBEX]) {
    add(tenant, "coder-1", "decision", new Date(CRASH.getTime() + MINUTE)); // after the crash
    add(tenant, "coder-1", "decision", new Date(CRASH.getTime())); // at the crash: not strictly before
  }
  add(ACME, "planner-1", "decision", new Date(CRASH.getTime() - 10_000)); // another agent
  for (let i = 0; i < 8; i++) add(ACME, "coder-1", "state_change", new Date(CRASH.getTime() - 50 * MINUTE + i * MINUTE), "src/main.py");
  for (let i = 0; i < 3; i++) add(ACME, "coder-1", "state_change", new Date(CRASH.getTime() - 20 * MINUTE + i * MINUTE), "README.md");
  for (let i = 0; i < 9; i++) add(ACME, "coder-1", "state_change", new Date(CRASH.getTime() - 120 * MINUTE + i * MINUTE), "package.json"); // outside 1h
  for (let i = 0; i < 12; i++) add(GLOBEX, "reviewer-1", "state_change", new Date(CRASH.getTime() - 40 * MINUTE + i * MINUTE), "infra/helm/values.yaml");
}

async function insertAll(token: string): Promise<void> {
  await engine.as(ADMIN, (client) => new ClickHouseSink(client).insert(rows, token));
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(command: string, args: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: ROOT, env: { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function query(...args: string[]): Promise<Run> {
  return run(process.execPath, ["--import", "tsx", "services/ingestor/src/cli.ts", ...args], { INGESTOR_CHDB_PATH: `${engine.root}/data` });
}

/** The data lines of a printed table, split into cells. */
function tableRows(stdout: string): string[][] {
  return stdout
    .trimEnd()
    .split("\n")
    .slice(2)
    .map((l) => l.trim().split(/\s{2,}/));
}

const crashArgs = ["crash-context", "--tenant", ACME, "--agent", "coder-1", "--before", CRASH.toISOString(), "--limit", "10"];
const loopArgs = (tenant: string) => ["loops", "--tenant", tenant, "--window", "1h", "--min", "5", "--until", CRASH.toISOString()];

beforeAll(async () => {
  fixture();
  engine = EmbeddedClickHouse.create({ catalog: loadTierCatalog() });
  await engine.as(ADMIN, async (client) => {
    for (const statement of schemaSql({ eventTtlDays: loadEnvironment("dev").clickhouse.eventTtlDays })) await client.command({ query: statement });
  });
  await insertAll("cli-test-batch-1");
}, 30_000);

afterAll(async () => {
  await engine?.destroy();
});

describe("formatTable", () => {
  it("aligns columns under their headers, right-aligns numbers and prints 'no rows' when empty", () => {
    const text = formatTable(
      [
        { name: "a", n: 5, note: "short" },
        { name: "longer-name", n: 12, note: "x" },
      ],
      ["name", { header: "n", value: (r) => String(r.n), align: "right" }, "note"],
    );
    expect(text.split("\n")).toEqual(["name          n  note", "-----------  --  -----", "a             5  short", "longer-name  12  x"]);
    expect(formatTable([], ["name"])).toBe("no rows");
  });
});

describe("query CLI", () => {
  let crashOut = "";
  let acmeLoopsOut = "";
  let globexLoopsOut = "";

  it("crash-context lists the agent's last N decisions before the moment, newest first, with rationale, of that tenant only", async () => {
    const r = await query(...crashArgs);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const expected = acmeDecisions.slice(0, 10);
    expect(r.stdout.match(UUID)).toEqual(expected.map((d) => d.event_id));
    for (const d of expected) expect(r.stdout).toContain(d.rationale);
    expect(r.stdout.split("\n")[0]).toMatch(/^timestamp\s+role\s+confidence\s+event_id\s+rationale$/);
    crashOut = r.stdout;
  });

  it("loops lists resources modified more than K times in the window, for that tenant only", async () => {
    // One process at a time: the embedded engine locks its directory.
    const acme = await query(...loopArgs(ACME));
    const globex = await query(...loopArgs(GLOBEX));
    expect(acme.code).toBe(0);
    expect(globex.code).toBe(0);
    expect(tableRows(acme.stdout).map((c) => [c[0], c[1], c[2]])).toEqual([[PROJECT, "src/main.py", "8"]]);
    expect(tableRows(globex.stdout).map((c) => [c[0], c[1], c[2]])).toEqual([[PROJECT, "infra/helm/values.yaml", "12"]]);
    acmeLoopsOut = acme.stdout;
    globexLoopsOut = globex.stdout;
  });

  it("prints 'no rows' for a tenant without events", async () => {
    const r = await query("loops", "--tenant", "cli-nobody", "--until", CRASH.toISOString());
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe("no rows");
  });

  it("gives the same answers after the same rows are inserted again under another token", async () => {
    await insertAll("cli-test-batch-2");
    const raw = await engine.as(ADMIN, (c) => selectRows<{ n: number }>(c, { query: `SELECT toUInt32(count()) AS n FROM ${qualified(SWARM_EVENTS_TABLE)}` }));
    expect(raw[0]?.n).toBe(2 * rows.length); // the duplicates are really stored
    const crash = await query(...crashArgs);
    const acme = await query(...loopArgs(ACME));
    const globex = await query(...loopArgs(GLOBEX));
    expect(crash.stdout).toBe(crashOut);
    expect(acme.stdout).toBe(acmeLoopsOut);
    expect(globex.stdout).toBe(globexLoopsOut);
  });

  it("exits 2 on a bad flag with a message naming the flag and the fix", async () => {
    const cases: readonly [readonly string[], string][] = [
      [["loops", "--tenant", "Bad_Tenant"], "--tenant"],
      [["loops"], "--tenant"],
      [["loops", "--tenant", "acme", "--window", "1x"], "--window"],
      [["loops", "--tenant", "acme", "--min", "0"], "--min"],
      [["crash-context", "--tenant", "acme", "--agent", "a", "--limit", "ten"], "--limit"],
      [["crash-context", "--tenant", "acme", "--agent", "a", "--before", "yesterday"], "--before"],
      [["crash-context", "--tenant", "acme"], "--agent"],
      [["loops", "--tenant", "acme", "--agent", "a"], "--agent"],
      [["loops", "--tenant", "acme", "--windw", "1h"], "--windw"],
      [["explain", "--tenant", "acme"], "command"],
    ];
    // These fail before opening the engine, so they may run side by side.
    const results = await Promise.all(cases.map(([args]) => query(...args)));
    results.forEach((r, i) => {
      const flag = cases[i]?.[1] ?? "";
      expect(r.code, `${cases[i]?.[0].join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(new RegExp(`^error: ${flag}\\b.*Fix: `, "m"));
    });
  });
});

describe("npm run local", () => {
  it("runs nats-server, the ingestor and the generator, and prints both answers for one tenant only", async () => {
    const r = await run("npm", ["run", "--silent", "local"], {}, 60_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("acked");
    expect(r.stdout).toMatch(/== Crash context: the last 10 decisions of acme\/coder-1/);
    expect(r.stdout).toMatch(/checkout-service\s+src\/services\/billing\.ts\s+\d+\s+1/);
    expect(r.stdout).toContain("rows of other tenants in acme's crash context: 0; globex's loop in acme's loops: no");
    expect(r.stdout).toContain("removed the temporary directories");
  }, 60_000);
});
