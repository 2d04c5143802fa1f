-- Schema of the `tenant-gate` plugin (Kong 3.9 OSS, DB-less). See handler.lua for what it does.
-- The config is rendered by services/kong-plugins/tenant-gate.ts, one instance per route class
-- (`mode`), from the identity contract and the plan-tier catalog: one `tiers` entry per plan tier,
-- never one per tenant.
local typedefs = require "kong.db.schema.typedefs"

local positive = { type = "integer", required = true, gt = 0 }

local function limits(required)
  return {
    type = "record",
    required = required,
    fields = {
      { second = positive },
      { minute = positive },
      { hour = positive },
      { max_body_kib = positive },
    },
  }
end

local header_name = { type = "string", required = true }

return {
  name = "tenant-gate",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          -- Which tokens this instance accepts: user and operator (Keycloak), tenant (provisioning).
          { mode = { type = "string", required = true, one_of = { "user", "operator", "tenant" } } },
          { issuer = { type = "string", required = true } },
          { audience = { type = "string", required = true } },
          -- JWS algorithms: only the ones jws.lua verifies (never none or HS*).
          { algorithms = { type = "array", required = true, len_min = 1, elements = { type = "string", one_of = { "RS256", "ES256" } } } },
          -- Expected `typ`: Keycloak's claim ("Bearer") or the JOSE header (RFC 9068 "at+jwt").
          { token_type = { type = "string", required = true } },
          { token_type_in = { type = "string", required = true, one_of = { "claim", "header" } } },
          -- Realm roles a token must carry (`realm_access.roles`), in operator mode.
          { required_realm_roles = { type = "array", required = false, elements = { type = "string" } } },
          -- The key set (a JWK Set over HTTP) and its cache, per nginx worker.
          { jwks_url = { type = "string", required = true, match = "^https?://" } },
          { jwks_cache_ttl_seconds = { type = "integer", required = true, between = { 10, 86400 } } },
          { jwks_refetch_interval_seconds = { type = "integer", required = true, between = { 1, 3600 } } },
          { jwks_timeout_ms = { type = "integer", required = true, between = { 50, 10000 } } },
          -- Time checks: exp and nbf tolerance, the longest accepted exp - iat.
          { clock_skew_seconds = { type = "integer", required = true, between = { 0, 300 } } },
          { max_lifetime_seconds = { type = "integer", required = true, between = { 60, 86400 } } },
          -- Tenant mode: the claims the tenant, its plan tier and the member's role come from.
          { tenant_claim = { type = "string", required = true } },
          { tier_claim = { type = "string", required = true } },
          { role_claim = { type = "string", required = true } },
          { roles = { type = "array", required = false, elements = { type = "string" } } },
          { tenant_id_min_length = { type = "integer", required = true, gt = 0 } },
          { tenant_id_max_length = { type = "integer", required = true, gt = 0 } },
          -- Headers the upstream gets, and client headers that never reach it.
          { user_header = header_name },
          { tenant_header = header_name },
          { tier_header = header_name },
          { role_header = header_name },
          { strip_headers = { type = "array", required = true, elements = { type = "string" } } },
          -- Limits: per plan tier (tenant mode, O(tiers)), or per signed-in user (user, operator).
          { tiers = { type = "map", required = false, len_min = 1, keys = { type = "string" }, values = limits(true) } },
          { user_limits = limits(false) },
          -- Where the counters live: "redis" (shared by every Kong pod) or "local" (per pod).
          { policy = { type = "string", required = true, one_of = { "local", "redis" } } },
          { local_dict = { type = "string", required = true } },
          { key_prefix = { type = "string", required = true } },
          { redis = {
              type = "record",
              required = false,
              fields = {
                { host = { type = "string" } },
                { port = { type = "integer", between = { 1, 65535 } } },
                { ssl = { type = "boolean" } },
                { ssl_verify = { type = "boolean" } },
                { server_name = { type = "string" } },
                { password = { type = "string", referenceable = true } },
                { timeout_ms = { type = "integer", gt = 0 } },
              },
            } },
        },
      } },
  },
  -- What each mode needs (Kong checks these when the config is loaded).
  entity_checks = {
    { conditional = { if_field = "config.mode", if_match = { eq = "tenant" }, then_field = "config.tiers", then_match = { required = true } } },
    { conditional = { if_field = "config.mode", if_match = { eq = "tenant" }, then_field = "config.roles", then_match = { required = true } } },
    { conditional = { if_field = "config.mode", if_match = { one_of = { "user", "operator" } }, then_field = "config.user_limits", then_match = { required = true } } },
    { conditional = { if_field = "config.mode", if_match = { eq = "operator" }, then_field = "config.required_realm_roles", then_match = { required = true } } },
  },
}
