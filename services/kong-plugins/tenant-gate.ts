/**
 * The `tenant-gate` Kong plugin: its Lua source (shipped to Kong in a ConfigMap) and the config of
 * each of its instances, one per route class (`mode`), rendered from the identity contract
 * (services/identity/names.ts) and the plan-tier catalog (one entry per tier, never per tenant).
 *
 * The plugin verifies bearer tokens itself against published JWK Sets, by key id (so a key
 * rotation needs no configuration change), then limits per tenant or per user.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { PLAN_TIER_NAMES, type TierCatalog, type UserLimits } from "../../config/tiers.js";
import { TENANT_ID_PATTERN } from "../../config/tenancy.js";
import { OPERATOR_AUDIENCE, TENANT_ROLES, TENANT_TOKEN, USER_TOKEN_AUDIENCE } from "../identity/names.js";
import { PLAN_TIER_CLAIM, REALM_ROLES, TENANT_CLAIM } from "../keycloak-realm/names.js";
import { MAX_ACCESS_TOKEN_LIFESPAN_SECONDS } from "../keycloak-realm/realm.js";

/** The plugin's name in Kong (`plugins.configMaps[].pluginName`, `KongClusterPlugin.plugin`). */
export const TENANT_GATE_PLUGIN = "tenant-gate";

/** Directory of the plugin's Lua files. */
export const TENANT_GATE_SOURCE_DIR = fileURLToPath(new URL("./tenant-gate/", import.meta.url));

/** The plugin's Lua files: Kong loads `kong.plugins.tenant-gate.<name>` from each. */
export const TENANT_GATE_FILES = ["handler.lua", "schema.lua", "jws.lua", "jwks.lua"] as const;

/** The Lua files Kong loads, by file name: the ConfigMap's data. */
export function tenantGateSources(): Record<string, string> {
  return Object.fromEntries(TENANT_GATE_FILES.map((f) => [f, readFileSync(`${TENANT_GATE_SOURCE_DIR}${f}`, "utf8")]));
}

/** Headers the upstream receives from the gateway: set from the verified token only. */
export const TENANT_HEADER = "X-Tenant-Id";
export const PLAN_TIER_HEADER = "X-Plan-Tier";
/** The member's role in the tenant (tenant routes). */
export const TENANT_ROLE_HEADER = "X-Tenant-Role";
/** The token's `sub` (every authenticated route). */
export const USER_HEADER = "X-User-Id";

/**
 * Client headers removed before anything else runs: the gateway's own headers and every header a
 * limiter could have been told to key on.
 */
export const STRIPPED_CLIENT_HEADERS = [
  TENANT_HEADER,
  PLAN_TIER_HEADER,
  TENANT_ROLE_HEADER,
  USER_HEADER,
  "X-Tenant",
  "X-Organization-Id",
  "X-RateLimit-Key",
  "X-Limit-Key",
  "X-Consumer-Groups",
] as const;

/** The claims of tenant tokens (one home: services/identity and services/keycloak-realm). */
export { PLAN_TIER_CLAIM, TENANT_CLAIM };

/** The route classes the plugin guards, each with its own instance. */
export const TENANT_GATE_MODES = ["user", "operator", "tenant"] as const;
export type TenantGateMode = (typeof TENANT_GATE_MODES)[number];

/** Keycloak's `typ` claim of access tokens (ID tokens say "ID", refresh tokens "Refresh"). */
export const KEYCLOAK_ACCESS_TOKEN_TYPE = "Bearer";

/** What each mode accepts: the token's audience, algorithm and `typ`, and its longest lifetime. */
export const MODE_TOKENS = {
  user: { audience: USER_TOKEN_AUDIENCE, algorithms: ["RS256"], tokenType: KEYCLOAK_ACCESS_TOKEN_TYPE, tokenTypeIn: "claim", maxLifetimeSeconds: MAX_ACCESS_TOKEN_LIFESPAN_SECONDS },
  operator: { audience: OPERATOR_AUDIENCE, algorithms: ["RS256"], tokenType: KEYCLOAK_ACCESS_TOKEN_TYPE, tokenTypeIn: "claim", maxLifetimeSeconds: MAX_ACCESS_TOKEN_LIFESPAN_SECONDS },
  tenant: { audience: TENANT_TOKEN.audience, algorithms: [TENANT_TOKEN.algorithm], tokenType: TENANT_TOKEN.type, tokenTypeIn: "header", maxLifetimeSeconds: TENANT_TOKEN.lifetimeBounds.max },
} as const satisfies Record<TenantGateMode, { audience: string; algorithms: readonly ("RS256" | "ES256")[]; tokenType: string; tokenTypeIn: "claim" | "header"; maxLifetimeSeconds: number }>;

/** Realm roles an operator token must carry (`realm_access.roles`). */
export const OPERATOR_REALM_ROLES = [REALM_ROLES.platformAdmin] as const;

/** Kong's shared dict for rate-limiting counters (declared by Kong's own nginx template). */
export const LOCAL_COUNTER_DICT = "kong_rate_limiting_counters";

/** Key set cache defaults (per nginx worker and URL). */
export const JWKS_CACHE_DEFAULTS = {
  /** A cached key set is refetched when older than this: a removed key stops verifying within it. */
  cacheTtlSeconds: 300,
  /** At most one fetch per key set per this many seconds, whatever the tokens' kids. */
  refetchIntervalSeconds: 10,
  timeoutMs: 2_000,
} as const;

/** Tolerance of `exp`, `nbf` and `iat` against the gateway's clock. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;

/** Bounds of a tenant id, read from TENANT_ID_PATTERN's `[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])`. */
export function tenantIdLengthBounds(): { min: number; max: number } {
  const m = /\{(\d+),(\d+)\}/.exec(TENANT_ID_PATTERN.source);
  if (!m?.[1] || !m[2]) throw new Error(`tenant-gate: cannot read length bounds from TENANT_ID_PATTERN ${TENANT_ID_PATTERN.source}. Fix: keep the {min,max} quantifier or update tenantIdLengthBounds().`);
  return { min: Number(m[1]) + 2, max: Number(m[2]) + 2 };
}

/** Limits as the plugin reads them (`config.tiers.<tier>`, `config.user_limits`). */
export interface GatewayLimits {
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
  /** The route class this instance guards. */
  readonly mode: TenantGateMode;
  readonly tiers: TierCatalog;
  /** A signed-in user's limits (`USER_LIMITS`): the user and operator modes' rate and body limits. */
  readonly userLimits: UserLimits;
  /**
   * `iss` of the accepted tokens: the realm's issuer (`https://<auth domain>/realms/<realm>`) for
   * user and operator, `tenantTokenIssuer(apiDomain)` for tenant.
   */
  readonly issuer: string;
  /** The JWK Set of the issuer's keys, as Kong reaches it (in the cluster: the Service's URL). */
  readonly jwksUrl: string;
  readonly counters: TenantGateCounters;
  /** Prefix of the counter keys (then `tenant:<id>:` or `user:<sub>:`). @default "ratelimit:" */
  readonly keyPrefix?: string;
  /** Longest accepted `exp - iat`. @default MODE_TOKENS[mode].maxLifetimeSeconds */
  readonly maxLifetimeSeconds?: number;
  /** @default DEFAULT_CLOCK_SKEW_SECONDS */
  readonly clockSkewSeconds?: number;
  /** @default JWKS_CACHE_DEFAULTS */
  readonly jwksCache?: Partial<typeof JWKS_CACHE_DEFAULTS>;
}

const DEFAULT_REDIS_PORT = 6379;
const DEFAULT_REDIS_TIMEOUT_MS = 100;

/** The per-tier limits table: the catalog's gateway limits, nothing typed twice. */
export function tierLimitsTable(tiers: TierCatalog): Record<string, GatewayLimits> {
  return Object.fromEntries(PLAN_TIER_NAMES.map((name) => [name, gatewayLimits(tiers[name].gateway)]));
}

/** The plugin's shape of a catalog `gateway` entry (a tier's or the signed-in user's). */
export function gatewayLimits(g: UserLimits["gateway"]): GatewayLimits {
  return { second: g.requestsPerSecond, minute: g.requestsPerMinute, hour: g.requestsPerHour, max_body_kib: g.maxRequestBodyKiB };
}

/** The plugin's `config` for one route class. Pure, for tests (the Lua test runs the plugin with exactly this). */
export function tenantGateConfig(props: TenantGateConfigProps): Record<string, unknown> {
  const bounds = tenantIdLengthBounds();
  const c = props.counters;
  const m = MODE_TOKENS[props.mode];
  const cache = { ...JWKS_CACHE_DEFAULTS, ...props.jwksCache };
  return {
    mode: props.mode,
    issuer: props.issuer,
    audience: m.audience,
    algorithms: [...m.algorithms],
    token_type: m.tokenType,
    token_type_in: m.tokenTypeIn,
    ...(props.mode === "operator" ? { required_realm_roles: [...OPERATOR_REALM_ROLES] } : {}),
    jwks_url: props.jwksUrl,
    jwks_cache_ttl_seconds: cache.cacheTtlSeconds,
    jwks_refetch_interval_seconds: cache.refetchIntervalSeconds,
    jwks_timeout_ms: cache.timeoutMs,
    clock_skew_seconds: props.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
    max_lifetime_seconds: props.maxLifetimeSeconds ?? m.maxLifetimeSeconds,
    tenant_claim: TENANT_TOKEN.claims.tenant,
    tier_claim: TENANT_TOKEN.claims.planTier,
    role_claim: TENANT_TOKEN.claims.role,
    tenant_id_min_length: bounds.min,
    tenant_id_max_length: bounds.max,
    user_header: USER_HEADER,
    tenant_header: TENANT_HEADER,
    tier_header: PLAN_TIER_HEADER,
    role_header: TENANT_ROLE_HEADER,
    strip_headers: [...STRIPPED_CLIENT_HEADERS],
    ...(props.mode === "tenant" ? { roles: [...TENANT_ROLES], tiers: tierLimitsTable(props.tiers) } : { user_limits: gatewayLimits(props.userLimits.gateway) }),
    policy: c.policy,
    local_dict: LOCAL_COUNTER_DICT,
    key_prefix: props.keyPrefix ?? "ratelimit:",
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
