/**
 * Runs the tenant-gate plugin's Lua with luajit through test/kong/harness.lua: the real FFI
 * signature checks against the system's libcrypto, key sets fetched over loopback HTTP with curl.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { TENANT_GATE_SOURCE_DIR } from "../../services/kong-plugins/tenant-gate.js";

const HARNESS = fileURLToPath(new URL("./harness.lua", import.meta.url));
/** What the harness needs from Debian: luajit (FFI), lua-cjson, libcrypto (openssl's libssl3), curl. */
export const INSTALL_HINT = "apt-get install -y luajit lua-cjson openssl curl (or bash .ci/install-system-deps)";

const LIBCRYPTO_PROBE =
  'require("cjson"); local ffi = require("ffi"); for _, n in ipairs({ "libcrypto.so.3", "libcrypto.so.1.1", "crypto" }) do if pcall(ffi.load, n) then os.exit(0) end end; io.stderr:write("no libcrypto.so.3 or libcrypto.so.1.1\\n"); os.exit(3)';

let checked: string | undefined;

/**
 * The Lua interpreter: luajit (what OpenResty runs; its FFI calls libcrypto), after checking that
 * it loads cjson and libcrypto and that curl (the harness's HTTP transport) is there; otherwise
 * fails with the install command.
 */
export function luaInterpreter(): string {
  if (checked) return checked;
  const probe = spawnSync("luajit", ["-e", LIBCRYPTO_PROBE], { encoding: "utf8" });
  if (probe.error) throw new Error(`The Kong plugin tests run its Lua with luajit, which is not installed. Fix: ${INSTALL_HINT}`);
  if (probe.status !== 0) throw new Error(`luajit is installed but cannot load cjson or libcrypto (${probe.stderr.trim()}). Fix: ${INSTALL_HINT}`);
  const curl = spawnSync("curl", ["--version"], { encoding: "utf8" });
  if (curl.error || curl.status !== 0) throw new Error(`The Kong plugin harness fetches key sets with curl, which is not installed. Fix: ${INSTALL_HINT}`);
  checked = "luajit";
  return checked;
}

export interface HarnessRequest {
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as `Authorization: Bearer <token>` unless `headers` has an Authorization. @default - none */
  readonly token?: string | null;
}

export interface HarnessStep {
  readonly request: HarnessRequest;
  /** Clock (seconds since epoch) at the step's first request. @default - the previous step's clock */
  readonly now?: number;
  /** Requests to send. @default 1 */
  readonly count?: number;
  /** Spread the requests evenly: `requests` per `seconds` (whole-second clock). @default - all at \`now\` */
  readonly spread?: readonly [requests: number, seconds: number];
  /** URLs the harness GETs (curl) before the step's requests: a test server's controls. @default [] */
  readonly call?: readonly string[];
}

export interface HarnessScenario {
  readonly config: Record<string, unknown>;
  readonly redis?: { readonly down?: boolean; readonly password?: string };
  readonly steps: readonly HarnessStep[];
}

export interface SingleResult {
  readonly status: number;
  readonly body: unknown;
  readonly upstream: Record<string, string>;
  readonly response_headers: Record<string, string>;
  /** Counter keys the request incremented, `local:` or `redis:` prefixed. */
  readonly keys: string[];
  /** What the plugin logged (`info: tenant-gate: refused: <why>`, ...). */
  readonly log: string[];
}

export interface BurstResult {
  readonly counts: Record<string, number>;
  /** 1-based index of the first request that was not let through. */
  readonly first_refused: number | null;
  readonly last_status: number;
}

/** One key set fetch of the plugin: the scenario clock then, the HTTP status or curl's error. */
export interface JwksFetch {
  readonly url: string;
  readonly at: number;
  readonly status: number | null;
  readonly error: string | null;
}

export interface HarnessOutput {
  readonly schema_errors: string[];
  readonly steps: (SingleResult | BurstResult)[];
  readonly redis_connections: { host: string; port: number; ssl: boolean; ssl_verify: boolean; server_name: string }[];
  readonly jwks_fetches: JwksFetch[];
}

const run = promisify(execFile);

/** Plays a scenario in one luajit process (one Kong worker: its key set cache lives through the steps). */
export async function runTenantGate(scenario: HarnessScenario): Promise<HarnessOutput> {
  const lua = luaInterpreter();
  const dir = mkdtempSync(join(tmpdir(), "tenant-gate-"));
  try {
    const file = join(dir, "scenario.json");
    writeFileSync(file, JSON.stringify(scenario));
    // Asynchronous: the key set servers answer from this process's event loop.
    const { stdout } = await run(lua, [HARNESS, TENANT_GATE_SOURCE_DIR.replace(/\/$/, ""), file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const parsed = JSON.parse(stdout) as HarnessOutput;
    const list = (v: unknown) => (Array.isArray(v) ? v : []);
    return {
      schema_errors: list(parsed.schema_errors) as string[],
      redis_connections: list(parsed.redis_connections) as HarnessOutput["redis_connections"],
      jwks_fetches: list(parsed.jwks_fetches) as JwksFetch[],
      steps: (list(parsed.steps) as HarnessOutput["steps"]).map((s) => ("keys" in s ? { ...s, keys: list(s.keys) as string[], log: list(s.log) as string[] } : s)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function single(output: HarnessOutput, i: number): SingleResult {
  const s = output.steps[i];
  if (!s || !("status" in s)) throw new Error(`step ${i} is not a single request`);
  return s;
}

export function burst(output: HarnessOutput, i: number): BurstResult {
  const s = output.steps[i];
  if (!s || !("counts" in s)) throw new Error(`step ${i} is not a burst`);
  return s;
}

/** Why the plugin refused a request (its `refused:` log line), or undefined. */
export function refusal(result: SingleResult): string | undefined {
  return result.log.map((l) => /refused:\s*(.*)$/.exec(l)?.[1]).find((r) => r !== undefined);
}
