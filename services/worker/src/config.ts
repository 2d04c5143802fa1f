/**
 * The worker's configuration, read from the environment variables of its contract
 * ({@link WORKER_ENV}, `../contract.ts`) and nothing else. A bad value throws a
 * {@link WorkerConfigError} naming the variable, the value and the fix; main.ts exits 2 on it.
 */
import { readFileSync } from "node:fs";
import { PLAN_TIER_NAMES, type PlanTierName } from "../../../config/tiers.js";
import { envInteger, envText, type Env, type EnvFail } from "../../runtime/env.js";
import { FieldError } from "../../runtime/errors.js";
import { WORKER_DEFAULTS as D, WORKER_ENV as V, WORKER_LIMITS as L, WORKER_LOG_LEVELS, type WorkerLogLevel } from "../contract.js";

export interface WorkerConfig {
  readonly tier: PlanTierName;
  readonly nats: {
    readonly servers: readonly string[];
    readonly credsFile: string;
    /** PEM of the servers' CA (read at start); undefined = system roots or plain `nats://`. */
    readonly ca: string | undefined;
  };
  /** Base URL of the provisioning service (the tenants' data keys); undefined = encrypted tenants' jobs fail. */
  readonly provisioningUrl: string | undefined;
  /** Where handlers read their tenant's history; undefined = no history. */
  readonly clickhouse: { readonly url: string; readonly username: string; readonly password: string } | undefined;
  readonly concurrency: number;
  readonly handlerTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  /** undefined = no HTTP server (`off`). */
  readonly httpPort: number | undefined;
  readonly logLevel: WorkerLogLevel;
}

export class WorkerConfigError extends FieldError {
  override readonly name = "WorkerConfigError";
  readonly code = "E_WORKER_CONFIG";
}

const fail: EnvFail = (variable, value, problem, fix) => {
  throw new WorkerConfigError(variable, value, problem, fix);
};
const bounded = (env: Env, key: keyof typeof L, fallback: number): number => envInteger(env, V[key], fallback, L[key].min, L[key].max, fail);

function required(env: Env, name: string, fix: string): string {
  const v = envText(env, name);
  if (v === undefined) throw new WorkerConfigError(name, env[name] ?? "", "is required", fix);
  return v;
}

function readable(name: string, path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new WorkerConfigError(name, path, `cannot be read (${(error as Error).message})`, `mount ${what} there`);
  }
}

function httpUrl(env: Env, name: string, example: string): string | undefined {
  const raw = envText(env, name);
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WorkerConfigError(name, raw, "is not a URL", `use e.g. ${example}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new WorkerConfigError(name, raw, "is not an http(s) URL", `use e.g. ${example}`);
  return raw.replace(/\/+$/, "");
}

/** All options, from `env` (default `process.env`). */
export function loadWorkerConfig(env: Env = process.env): WorkerConfig {
  const tierRaw = required(env, V.tier, `set it to the tier whose lane this pool runs: ${PLAN_TIER_NAMES.join(", ")}`);
  if (!(PLAN_TIER_NAMES as readonly string[]).includes(tierRaw)) throw new WorkerConfigError(V.tier, tierRaw, "is not a plan tier", `use one of ${PLAN_TIER_NAMES.join(", ")}`);
  const servers = required(env, V.natsUrl, "set the NATS URL(s), e.g. tls://nats.nats.svc.cluster.local:4222")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const s of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+$/.test(s)) throw new WorkerConfigError(V.natsUrl, s, "is not a NATS URL", "use nats://host:port or tls://host:port (comma-separate several)");
  }
  const credsFile = required(env, V.natsCredsFile, `mount the tier's worker user (workers-${tierRaw}.creds from nats:bootstrap) and set its path`);
  const creds = readable(V.natsCredsFile, credsFile, `the tier's worker user creds (workers-${tierRaw}.creds)`);
  if (!creds.includes("BEGIN NATS USER JWT") || !creds.includes("BEGIN USER NKEY SEED")) {
    throw new WorkerConfigError(V.natsCredsFile, credsFile, "holds no NATS user JWT and seed", `mount the creds file nats:bootstrap wrote for workers-${tierRaw}`);
  }
  const caFile = envText(env, V.natsCaFile);
  const ca = caFile ? readable(V.natsCaFile, caFile, "the NATS servers' CA certificate (PEM)") : undefined;
  if (ca !== undefined && !ca.includes("-----BEGIN CERTIFICATE-----")) throw new WorkerConfigError(V.natsCaFile, caFile, "holds no PEM certificate", "mount the NATS servers' CA certificate (PEM) there");

  const chUrl = httpUrl(env, V.clickhouseUrl, "http://clickhouse.clickhouse.svc.cluster.local:8123");
  let clickhouse: WorkerConfig["clickhouse"];
  if (chUrl) {
    const passwordFile = required(env, V.clickhousePasswordFile, `mount the ${envText(env, V.clickhouseUser) ?? D.clickhouseUser} user's password and set its path (or unset ${V.clickhouseUrl})`);
    clickhouse = { url: chUrl, username: envText(env, V.clickhouseUser) ?? D.clickhouseUser, password: readable(V.clickhousePasswordFile, passwordFile, "the ClickHouse password").trim() };
  }
  const port = envText(env, V.httpPort);
  const logLevel = (envText(env, V.logLevel) ?? D.logLevel) as WorkerLogLevel;
  if (!WORKER_LOG_LEVELS.includes(logLevel)) throw new WorkerConfigError(V.logLevel, logLevel, "is not a log level", `use one of ${WORKER_LOG_LEVELS.join(", ")}`);
  return {
    tier: tierRaw as PlanTierName,
    nats: { servers, credsFile, ca },
    provisioningUrl: httpUrl(env, V.provisioningUrl, "http://provisioning.platform.svc.cluster.local:8080"),
    clickhouse,
    concurrency: bounded(env, "concurrency", D.concurrency),
    handlerTimeoutMs: bounded(env, "handlerTimeoutMs", D.handlerTimeoutMs),
    shutdownTimeoutMs: bounded(env, "shutdownTimeoutMs", D.shutdownTimeoutMs),
    httpPort: port === "off" ? undefined : bounded(env, "httpPort", D.httpPort),
    logLevel,
  };
}
