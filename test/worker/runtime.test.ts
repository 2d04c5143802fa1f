/**
 * The worker's pure parts: its configuration (every variable of the contract, errors naming the
 * variable and the fix), the job check against the subject the server filed it under, and the
 * `changes.digest` handler's input and decision. The runtime on real components:
 * test/agents/loop.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecentChangesRow } from "../../services/clickhouse-schema/queries.js";
import { mintWorkerUser, generateNatsSeeds } from "../../services/nats-auth/sign.js";
import { WORKER_DEFAULTS, WORKER_ENV } from "../../services/worker/contract.js";
import { loadWorkerConfig, WorkerConfigError } from "../../services/worker/src/config.js";
import { changesDigestInput, digestDecision, JobInputError } from "../../services/worker/src/handlers.js";
import { parseJob } from "../../services/worker/src/runtime.js";

const A = "t0123456789abcdefghijklmn";
const B = "t1111111111111111111111111";
let dir: string;
let base: Record<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "worker-config-"));
  writeFileSync(join(dir, "workers-pro.creds"), (await mintWorkerUser(generateNatsSeeds([]).swarmAccount, "pro")).creds);
  writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  writeFileSync(join(dir, "password"), "s3cret\n");
  writeFileSync(join(dir, "junk"), "nothing");
  base = { [WORKER_ENV.tier]: "pro", [WORKER_ENV.natsUrl]: "tls://nats.nats.svc:4222, tls://nats-2.nats.svc:4222", [WORKER_ENV.natsCredsFile]: join(dir, "workers-pro.creds") };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("worker configuration", () => {
  it("reads every variable of the contract, with the contract's defaults", () => {
    const c = loadWorkerConfig(base);
    expect(c).toMatchObject({ tier: "pro", nats: { servers: ["tls://nats.nats.svc:4222", "tls://nats-2.nats.svc:4222"], ca: undefined }, clickhouse: undefined, provisioningUrl: undefined, concurrency: WORKER_DEFAULTS.concurrency, httpPort: WORKER_DEFAULTS.httpPort, logLevel: "info" });
    const full = loadWorkerConfig({
      ...base,
      [WORKER_ENV.natsCaFile]: join(dir, "ca.pem"),
      [WORKER_ENV.provisioningUrl]: "http://provisioning.platform.svc:8080/",
      [WORKER_ENV.clickhouseUrl]: "http://clickhouse:8123",
      [WORKER_ENV.clickhousePasswordFile]: join(dir, "password"),
      [WORKER_ENV.concurrency]: "8",
      [WORKER_ENV.httpPort]: "off",
    });
    expect(full).toMatchObject({ provisioningUrl: "http://provisioning.platform.svc:8080", clickhouse: { url: "http://clickhouse:8123", username: WORKER_DEFAULTS.clickhouseUser, password: "s3cret" }, concurrency: 8, httpPort: undefined });
    expect(full.nats.ca).toContain("BEGIN CERTIFICATE");
  });

  it("refuses a bad value naming the variable and the fix", () => {
    const cases: [Record<string, string | undefined>, string, RegExp][] = [
      [{ ...base, [WORKER_ENV.tier]: undefined }, WORKER_ENV.tier, /is required. Fix: set it to the tier/],
      [{ ...base, [WORKER_ENV.tier]: "platinum" }, WORKER_ENV.tier, /is not a plan tier. Fix: use one of free, pro, enterprise/],
      [{ ...base, [WORKER_ENV.natsUrl]: "http://nats:4222" }, WORKER_ENV.natsUrl, /is not a NATS URL/],
      [{ ...base, [WORKER_ENV.natsCredsFile]: join(dir, "missing.creds") }, WORKER_ENV.natsCredsFile, /cannot be read/],
      [{ ...base, [WORKER_ENV.natsCredsFile]: join(dir, "junk") }, WORKER_ENV.natsCredsFile, /holds no NATS user JWT and seed/],
      [{ ...base, [WORKER_ENV.natsCaFile]: join(dir, "junk") }, WORKER_ENV.natsCaFile, /holds no PEM certificate/],
      [{ ...base, [WORKER_ENV.clickhouseUrl]: "clickhouse:8123" }, WORKER_ENV.clickhouseUrl, /is not (a|an http\(s\)) URL/],
      [{ ...base, [WORKER_ENV.clickhouseUrl]: "http://clickhouse:8123" }, WORKER_ENV.clickhousePasswordFile, /is required/],
      [{ ...base, [WORKER_ENV.concurrency]: "0" }, WORKER_ENV.concurrency, /is not a whole number from 1 to 256/],
      [{ ...base, [WORKER_ENV.logLevel]: "loud" }, WORKER_ENV.logLevel, /is not a log level/],
    ];
    for (const [env, variable, message] of cases) {
      let error: unknown;
      try {
        loadWorkerConfig(env);
      } catch (e) {
        error = e;
      }
      expect(error, variable).toBeInstanceOf(WorkerConfigError);
      expect((error as WorkerConfigError).field, variable).toBe(variable);
      expect((error as Error).message, variable).toMatch(message);
    }
  });
});

describe("jobs", () => {
  const job = { jobId: "0b7e8a8c-9a3e-4c6e-8f5b-2d1f8a7c6e5d", type: "changes.digest", tenantId: A, projectId: "checkout-service", input: {}, submittedBy: "user-1", submittedAt: "2026-12-04T00:00:00Z" };
  const bytes = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

  it("takes the tenant from the subject and refuses a job that names another, or is not a job", () => {
    expect(parseJob(`swarm.${A}.jobs.free`, bytes(job), "free")).toEqual(job);
    expect(() => parseJob(`swarm.${A}.jobs.free`, bytes({ ...job, tenantId: B }), "free")).toThrow(`names tenant "${B}" but was filed under ${A}`);
    expect(() => parseJob(`swarm.${A}.jobs.pro`, bytes(job), "free")).toThrow(/not a job lane of the free tier/);
    expect(() => parseJob(`swarm.${A}.jobs.free`, bytes("{nope"), "free")).toThrow(/not JSON/);
    expect(() => parseJob(`swarm.${A}.jobs.free`, bytes({ ...job, projectId: "a.b" }), "free")).toThrow(/projectId/);
    expect(() => parseJob(`swarm.${A}.jobs.free`, bytes({ ...job, input: [1] }), "free")).toThrow(/input is not a JSON object/);
    expect(() => parseJob(`swarm.${A}.jobs.free`, bytes({ ...job, type: undefined }), "free")).toThrow(/lacks jobId, type or submittedBy/);
  });

  it("changes.digest checks its input, naming the field", () => {
    expect(changesDigestInput({})).toEqual({ path: "", windowMinutes: 60, agentId: "digest-worker" });
    expect(() => changesDigestInput({ windowMinutes: 0 })).toThrow(JobInputError);
    expect(() => changesDigestInput({ windowMinutes: 0 })).toThrow(/input.windowMinutes = 0 is not a whole number of minutes/);
    expect(() => changesDigestInput({ path: 7 })).toThrow(/input.path/);
    expect(() => changesDigestInput({ agentId: "a b" })).toThrow(/input.agentId/);
    expect(() => changesDigestInput({ window: 5 })).toThrow(/input.window = 5 is not an input of changes.digest/);
  });

  it("changes.digest decides which resource to review from the counts", () => {
    const row = (target_resource: string, changes: number, agents = 1, last_state_hash = "ab".repeat(32)): RecentChangesRow => ({ target_resource, changes, agents, last_changed: "2026-12-04 10:00:00.000000", last_state_hash, last_agent: "coder-1" });
    const d = digestDecision([row("src/billing.ts", 6, 2), row("src/a.ts", 3), row("src/b.ts", 1, 1, "")], { path: "src/", windowMinutes: 60, agentId: "d" });
    expect(d.action).toBe("review src/billing.ts");
    expect(d.confidence).toBe(0.6);
    expect(d.alternatives).toEqual(["review src/a.ts", "review src/b.ts"]);
    expect(d.rationale).toContain("10 state change(s) to 3 resource(s) under src/ in the last 60 min");
    expect(d.rationale).toContain("- src/billing.ts: 6 change(s) by 2 agent(s), last by coder-1");
    expect(d.rationale).toContain("src/b.ts: 1 change(s) by 1 agent(s), last by coder-1 at 2026-12-04 10:00:00.000000 (deleted)");
    expect(digestDecision([], { path: "", windowMinutes: 30, agentId: "d" })).toEqual({ action: "no changes under the project", rationale: "No state changes under the project in the last 30 min.", confidence: 1, alternatives: [] });
  });
});
