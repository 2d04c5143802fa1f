/**
 * The events API's configuration: every variable of the contract, its default, its bounds, and a
 * refusal naming the variable, the value and the fix for each way a value can be wrong.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PLAN_TIER_NAMES } from "../../config/tiers.js";
import { readerUserName } from "../../services/clickhouse-schema/names.js";
import { EVENTS_API_DEFAULTS, EVENTS_API_ENV as V, EVENTS_API_ENV_VARS, EVENTS_API_LIMITS, EVENTS_API_READER_ENV } from "../../services/events-api/contract.js";
import { EventsApiConfigError, loadEventsApiConfig } from "../../services/events-api/src/config.js";
import { eventsApiEnv } from "./support.js";

let dir: string;
let base: Record<string, string>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "events-api-config-"));
  base = eventsApiEnv(dir, { jwksUrl: "http://provisioning.platform.svc:8080/.well-known/jwks.json", provisioningUrl: "http://provisioning.platform.svc:8080/", extra: { [V.clickhouseUrl]: "http://clickhouse-events.clickhouse.svc.cluster.local:8123" } });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The error a load with `env` throws. */
function refusal(env: Record<string, string | undefined>): EventsApiConfigError {
  try {
    loadEventsApiConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(EventsApiConfigError);
    return error as EventsApiConfigError;
  }
  throw new Error("the configuration was accepted");
}

describe("events API configuration", () => {
  it("reads the smallest valid environment with the contract's defaults", () => {
    const c = loadEventsApiConfig({ ...base, [V.httpPort]: undefined, [V.logLevel]: undefined });
    expect(c.httpPort).toBe(EVENTS_API_DEFAULTS.httpPort);
    expect(c.logLevel).toBe("info");
    expect(c.bodyLimitBytes).toBe(EVENTS_API_DEFAULTS.bodyLimitBytes);
    expect(c.clickhouse.queryTimeoutMs).toBe(EVENTS_API_DEFAULTS.queryTimeoutMs);
    expect(c.provisioning).toEqual({ url: "http://provisioning.platform.svc:8080", timeoutMs: EVENTS_API_DEFAULTS.provisioningTimeoutMs });
    expect(c.dataKeys).toEqual({ kind: "off" });
    expect(c.dataKeyCacheSeconds).toBe(EVENTS_API_DEFAULTS.dataKeyCacheSeconds);
    expect(c.http).toEqual({ headersTimeoutMs: EVENTS_API_DEFAULTS.headersTimeoutMs, requestTimeoutMs: EVENTS_API_DEFAULTS.requestTimeoutMs, idleTimeoutMs: EVENTS_API_DEFAULTS.idleTimeoutMs, maxConnections: EVENTS_API_DEFAULTS.maxConnections });
    for (const tier of PLAN_TIER_NAMES) {
      expect(c.clickhouse.connection?.readers[tier].user).toBe(readerUserName(tier));
      expect(c.clickhouse.connection?.readers[tier].password).toBe(readFileSync(base[EVENTS_API_READER_ENV[tier].passwordFile]!, "utf8").trim());
    }
  });

  it("with the readers handed in, neither requires nor reads the ClickHouse URL, CA or reader passwords", () => {
    const without: Record<string, string | undefined> = { ...base, [V.clickhouseUrl]: undefined, [V.clickhouseCaFile]: "/nonexistent/ca.pem" };
    for (const tier of PLAN_TIER_NAMES) without[EVENTS_API_READER_ENV[tier].passwordFile] = undefined;
    const c = loadEventsApiConfig(without, { readers: "handed-in" });
    expect(c.clickhouse).toEqual({ queryTimeoutMs: EVENTS_API_DEFAULTS.queryTimeoutMs });
    // Without the option the same environment is refused, naming the first missing variable.
    expect(refusal(without).variable).toBe(V.clickhouseUrl);
  });

  it("names every variable it reads in the contract, each one distinct and prefixed", () => {
    expect(new Set(EVENTS_API_ENV_VARS).size).toBe(EVENTS_API_ENV_VARS.length);
    for (const v of EVENTS_API_ENV_VARS) expect(v).toMatch(/^EVENTS_API_[A-Z_]+$/);
    const source = readFileSync(new URL("../../services/events-api/src/config.ts", import.meta.url), "utf8");
    // The table documents each one (the three readers by their <TIER> pattern).
    for (const v of EVENTS_API_ENV_VARS) expect(source, v).toContain(`\`${v.replace(/_(FREE|PRO|ENTERPRISE)_/, "_<TIER>_")}\``);
  });

  it("requires the ClickHouse URL, each reader's password file, the token issuer, the key set and the provisioning URL", () => {
    for (const name of [V.clickhouseUrl, V.tokenIssuer, V.jwksUrl, V.provisioningUrl, ...PLAN_TIER_NAMES.map((t) => EVENTS_API_READER_ENV[t].passwordFile)]) {
      const e = refusal({ ...base, [name]: undefined });
      expect(e.variable).toBe(name);
      expect(e.message).toMatch(new RegExp(`^${name} = "\\(missing\\)" is required\\. Fix: `));
    }
  });

  it("refuses URLs with credentials, queries or other schemes", () => {
    expect(refusal({ ...base, [V.clickhouseUrl]: "http://reader:secret@clickhouse:8123" }).message).toContain("carries credentials");
    expect(refusal({ ...base, [V.jwksUrl]: "ftp://provisioning/jwks" }).message).toContain("is not an http(s) URL");
    expect(refusal({ ...base, [V.provisioningUrl]: "http://provisioning:8080/?x=1" }).message).toContain("carries a query or fragment");
    expect(refusal({ ...base, [V.tokenIssuer]: "api.example.com" }).variable).toBe(V.tokenIssuer);
  });

  it("refuses whole numbers out of their bounds, naming the bounds", () => {
    for (const [key, bounds] of Object.entries(EVENTS_API_LIMITS) as [keyof typeof EVENTS_API_LIMITS, { min: number; max: number }][]) {
      const e = refusal({ ...base, [V[key]]: String(bounds.max + 1) });
      expect(e.variable).toBe(V[key]);
      expect(e.message).toContain(`from ${bounds.min} to ${bounds.max}`);
    }
    expect(refusal({ ...base, [V.queryTimeoutMs]: "1.5" }).variable).toBe(V.queryTimeoutMs);
    expect(refusal({ ...base, [V.headersTimeoutMs]: "20000", [V.requestTimeoutMs]: "10000" }).variable).toBe(V.requestTimeoutMs);
  });

  it("refuses an empty or unreadable password file and a bad user name", () => {
    const empty = join(dir, "empty");
    writeFileSync(empty, "\n");
    expect(refusal({ ...base, [EVENTS_API_READER_ENV.pro.passwordFile]: empty }).message).toContain("holds an empty password");
    expect(refusal({ ...base, [EVENTS_API_READER_ENV.free.passwordFile]: join(dir, "missing") }).message).toContain("cannot be read");
    expect(refusal({ ...base, [EVENTS_API_READER_ENV.enterprise.user]: "reader; DROP" }).variable).toBe(EVENTS_API_READER_ENV.enterprise.user);
    expect(loadEventsApiConfig({ ...base, [EVENTS_API_READER_ENV.enterprise.user]: "swarm_reader_enterprise_v2" }).clickhouse.connection?.readers.enterprise.user).toBe("swarm_reader_enterprise_v2");
  });

  it("reads the data-key store and its unwrapping key together, or neither", () => {
    expect(loadEventsApiConfig({ ...base, [V.fdbClusterFile]: "/etc/foundationdb/fdb.cluster", [V.kmsKeyId]: "alias/enchanted-tenant-keys", [V.awsRegion]: "eu-west-1" }).dataKeys).toEqual({
      kind: "store",
      store: { kind: "fdb", clusterFile: "/etc/foundationdb/fdb.cluster" },
      provider: { kind: "kms", keyId: "alias/enchanted-tenant-keys", region: "eu-west-1" },
    });
    expect(loadEventsApiConfig({ ...base, [V.lmdbPath]: "./.data/provisioning", [V.localKekFile]: "./.data/provisioning/dev-kek" }).dataKeys).toEqual({
      kind: "store",
      store: { kind: "lmdb", path: "./.data/provisioning" },
      provider: { kind: "local", kekFile: "./.data/provisioning/dev-kek" },
    });
    expect(refusal({ ...base, [V.fdbClusterFile]: "/etc/foundationdb/fdb.cluster" }).variable).toBe(V.kmsKeyId);
    expect(refusal({ ...base, [V.kmsKeyId]: "alias/enchanted-tenant-keys" }).message).toContain("no store is");
    expect(refusal({ ...base, [V.fdbClusterFile]: "/f", [V.lmdbPath]: "/l", [V.kmsKeyId]: "alias/k" }).variable).toBe(V.lmdbPath);
    expect(refusal({ ...base, [V.fdbClusterFile]: "/f", [V.kmsKeyId]: "alias/k", [V.localKekFile]: "/k" }).variable).toBe(V.localKekFile);
    expect(refusal({ ...base, [V.fdbClusterFile]: "/f", [V.kmsKeyId]: "not a key" }).variable).toBe(V.kmsKeyId);
  });

  it("refuses a log level pino does not have, and a CA file without a certificate", () => {
    expect(refusal({ ...base, [V.logLevel]: "verbose" }).message).toContain("use one of silent, fatal, error, warn, info, debug, trace");
    const notPem = join(dir, "ca.pem");
    writeFileSync(notPem, "hello");
    expect(refusal({ ...base, [V.clickhouseCaFile]: notPem }).message).toContain("holds no PEM certificate");
  });
});
