/**
 * The `tenant-gate` Kong plugin: its Lua source (shipped to Kong in a ConfigMap) and the config
 * the gateway gives it, rendered from the plan-tier catalog (one entry per tier, never per tenant).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PLAN_TIER_NAMES, type TierCatalog } from "../../config/tiers.js";
import { TENANT_ID_PATTERN } from "../../config/tenancy.js";

/** The plugin's name in Kong (`plugins.configMaps[].pluginName`, `KongClusterPlugin.plugin`). */
export const TENANT_GATE_PLUGIN = "tenant-gate";

/** Directory of the plugin's Lua files (`handler.lua`, `schema.lua`). */
export const TENANT_GATE_SOURCE_DIR = fileURLToPath(new URL("./tenant-gate/", import.meta.url));

/** The Lua files Kong loads, by file name: the ConfigMap's data. */
export function tenantGateSources(): Record<string, string> {
  return Object.fromEntries(["handler.lua", "schema.lua"].map((f) => [f, readFileSync(`${TENANT_GATE_SOURCE_DIR}${f}`, "utf8")]));
}

/** Headers the upstream receives from the gateway: set from the verified token only. */
export const TENANT_HEADER = "X-Tenant-Id";
export const PLAN_TIER_HEADER = "X-Plan-Tier";

/**
 * Client headers removed before anything else runs: the gateway's own tenant headers and every
 * header a limiter could have been told to key on.
 */
export const STRIPPED_CLIENT_HEADERS = [
  TENANT_HEADER,
  PLAN_TIER_HEADER,
  "X-Tenant",
  "X-Organization-Id",
  "X-RateLimit-Key",
  "X-Limit-Key",
  "X-Consumer-Groups",
] as const;

/** Claims Keycloak puts in every access token (the realm's protocol mappers). */
import { PLAN_TIER_CLAIM, TENANT_CLAIM } from "../keycloak-realm/names.js";

/** The claims Keycloak puts in access tokens (one home: services/keycloak-realm). */
export { PLAN_TIER_CLAIM, TENANT_CLAIM };

/** Algorithms a token may be signed with: the realm's RSA key only (never `none` or HS*). */
export const TOKEN_ALGORITHMS = ["RS256"] as const;

/** Keycloak's `typ` of access tokens (ID tokens say "ID", refresh tokens "Refresh"). */
export const ACCESS_TOKEN_TYPES = ["Bearer"] as const;

/** Kong's shared dict for rate-limiting counters (declared by Kong's own nginx template). */
export const LOCAL_COUNTER_DICT = "kong_rate_limiting_counters";

/** Bounds of a tenant id, read from TENANT_ID_PATTERN's `[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])`. */
export function tenantIdLengthBounds(): { min: number; max: number } {
  const m = /\{(\d+),(\d+)\}/.exec(TENANT_ID_PATTERN.source);
  if (!m?.[1] || !m[2]) throw new Error(`tenant-gate: cannot read length bounds from TENANT_ID_PATTERN ${TENANT_ID_PATTERN.source}. Fix: keep the {min,max} quantifier or update tenantIdLengthBounds().`);
  return { min: Number(m[1]) + 2, max: Number(m[2]) + 2 };
}

/** Per-tier limits as the plugin reads them (`config.tiers`). */
export interface TierGatewayLimits {
  readonly second: number;
  readonly minute: number;
  readonly hour: number;
  readonly max_body_kib: number;
}

/** Where the counters live. */
export type TenantGateCounters =
  | { readonly policy: "local" }
  | {
      readonly policy: "redis";
      readonly host: string;
      /** @default 6379 */
      readonly port?: number;
      /** A Kong vault reference or a value patched in from a Secret; never a literal. @default - none (set by configPatches) */
      readonly password?: string;
      /** @default 100 */
      readonly timeoutMs?: number;
    };

export interface TenantGateConfigProps {
  readonly tiers: TierCatalog;
  /** The realm's issuer: `https://<auth domain>/realms/<realm>`. */
  readonly issuer: string;
  /** The audience the API's tokens carry (Keycloak audience mapper). */
  readonly audience: string;
  readonly counters: TenantGateCounters;
  /** Prefix of the counter keys. @default "ratelimit:tenant:" */
  readonly keyPrefix?: string;
}

const DEFAULT_REDIS_PORT = 6379;
const DEFAULT_REDIS_TIMEOUT_MS = 100;

/** The per-tier limits table: the catalog's gateway limits, nothing typed twice. */
export function tierLimitsTable(tiers: TierCatalog): Record<string, TierGatewayLimits> {
  return Object.fromEntries(
    PLAN_TIER_NAMES.map((name) => {
      const g = tiers[name].gateway;
      return [name, { second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB }];
    }),
  );
}

/** The plugin's `config`. Pure, for tests (the Lua test runs the plugin with exactly this). */
export function tenantGateConfig(props: TenantGateConfigProps): Record<string, unknown> {
  const bounds = tenantIdLengthBounds();
  const c = props.counters;
  return {
    issuer: props.issuer,
    audience: props.audience,
    algorithms: [...TOKEN_ALGORITHMS],
    token_types: [...ACCESS_TOKEN_TYPES],
    tenant_claim: TENANT_CLAIM,
    tier_claim: PLAN_TIER_CLAIM,
    tenant_id_min_length: bounds.min,
    tenant_id_max_length: bounds.max,
    tenant_header: TENANT_HEADER,
    tier_header: PLAN_TIER_HEADER,
    strip_headers: [...STRIPPED_CLIENT_HEADERS],
    tiers: tierLimitsTable(props.tiers),
    policy: c.policy,
    local_dict: LOCAL_COUNTER_DICT,
    key_prefix: props.keyPrefix ?? "ratelimit:tenant:",
    ...(c.policy === "redis"
      ? {
          redis: {
            host: c.host,
            port: c.port ?? DEFAULT_REDIS_PORT,
            ssl: true,
            ssl_verify: true,
            server_name: c.host,
            timeout_ms: c.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS,
            ...(c.password !== undefined ? { password: c.password } : {}),
          },
        }
      : {}),
  };
}
