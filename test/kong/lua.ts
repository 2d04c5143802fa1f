/** Runs the tenant-gate plugin's Lua with luajit through test/kong/harness.lua. */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { TENANT_GATE_SOURCE_DIR } from "../../services/kong-plugins/tenant-gate.js";

const HARNESS = fileURLToPath(new URL("./harness.lua", import.meta.url));
const INSTALL_HINT = "apt-get install -y luajit lua-cjson";

/** The Lua interpreter: luajit (what OpenResty runs), else lua5.1; fails with the install command. */
export function luaInterpreter(): string {
  for (const candidate of ["luajit", "lua5.1"]) {
    const probe = spawnSync(candidate, ["-e", 'require("cjson")'], { encoding: "utf8" });
    if (probe.status === 0) return candidate;
    if (!probe.error) {
      throw new Error(`${candidate} is installed but cannot load cjson (${probe.stderr.trim()}). Fix: ${INSTALL_HINT}`);
    }
  }
  throw new Error(`The Kong plugin tests run its Lua with luajit, which is not installed. Fix: ${INSTALL_HINT}`);
}

export interface HarnessRequest {
  readonly headers?: Readonly<Record<string, string>>;
  /** The token the jwt plugin verified (kong.ctx.shared.authenticated_jwt_token). @default - none */
  readonly token?: string | null;
  /** Whether the jwt plugin authenticated a credential. @default true */
  readonly credential?: boolean;
}

export interface HarnessStep {
  readonly request: HarnessRequest;
  /** Clock (seconds since epoch) at the step's first request. @default - the previous step's clock */
  readonly now?: number;
  /** Requests to send. @default 1 */
  readonly count?: number;
  /** Spread the requests evenly: `requests` per `seconds` (whole-second clock). @default - all at \`now\` */
  readonly spread?: readonly [requests: number, seconds: number];
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
}

export interface BurstResult {
  readonly counts: Record<string, number>;
  /** 1-based index of the first request that was not let through. */
  readonly first_refused: number | null;
  readonly last_status: number;
}

export interface HarnessOutput {
  readonly schema_errors: string[];
  readonly steps: (SingleResult | BurstResult)[];
  readonly redis_connections: { host: string; port: number; ssl: boolean; ssl_verify: boolean; server_name: string }[];
}

export function runTenantGate(scenario: HarnessScenario): HarnessOutput {
  const lua = luaInterpreter();
  const dir = mkdtempSync(join(tmpdir(), "tenant-gate-"));
  try {
    const file = join(dir, "scenario.json");
    writeFileSync(file, JSON.stringify(scenario));
    const out = execFileSync(lua, [HARNESS, TENANT_GATE_SOURCE_DIR.replace(/\/$/, ""), file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    const parsed = JSON.parse(out) as HarnessOutput;
    const list = (v: unknown) => (Array.isArray(v) ? v : []);
    return {
      schema_errors: list(parsed.schema_errors) as string[],
      redis_connections: list(parsed.redis_connections) as HarnessOutput["redis_connections"],
      steps: (list(parsed.steps) as HarnessOutput["steps"]).map((s) => ("keys" in s ? { ...s, keys: list(s.keys) as string[] } : s)),
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

const b64url = (text: string) => Buffer.from(text, "utf8").toString("base64url");

/** A compact JWS with the given header and claims (the signature is not checked here: jwt did that). */
export function token(claims: Record<string, unknown>, header: Record<string, unknown> = { alg: "RS256", typ: "JWT", kid: "realm-key" }): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.c2lnbmF0dXJl`;
}
