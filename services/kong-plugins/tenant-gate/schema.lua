-- Schema of the `tenant-gate` plugin (Kong 3.9 OSS, DB-less). See handler.lua for what it does.
-- The config is rendered by services/kong-plugins/tenant-gate.ts from the plan-tier catalog:
-- one `tiers` entry per plan tier, never one per tenant.
local typedefs = require "kong.db.schema.typedefs"

local positive = { type = "integer", required = true, gt = 0 }

local tier_limits = {
  type = "record",
  fields = {
    { second = positive },
    { minute = positive },
    { hour = positive },
    { max_body_kib = positive },
  },
}

return {
  name = "tenant-gate",
  fields = {
    { consumer = typedefs.no_consumer },
    { protocols = typedefs.protocols_http },
    { config = {
        type = "record",
        fields = {
          -- Token checks on top of the jwt plugin's signature, exp and nbf checks.
          { issuer = { type = "string", required = true } },
          { audience = { type = "string", required = true } },
          { algorithms = { type = "array", required = true, len_min = 1,
              elements = { type = "string", one_of = { "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512" } } } },
          { token_types = { type = "array", required = true, len_min = 1, elements = { type = "string" } } },
          -- Claims the tenant and its plan tier come from.
          { tenant_claim = { type = "string", required = true } },
          { tier_claim = { type = "string", required = true } },
          { tenant_id_min_length = { type = "integer", required = true, gt = 0 } },
          { tenant_id_max_length = { type = "integer", required = true, gt = 0 } },
          -- Headers the upstream gets, and client headers that never reach it.
          { tenant_header = { type = "string", required = true } },
          { tier_header = { type = "string", required = true } },
          { strip_headers = { type = "array", required = true, elements = { type = "string" } } },
          -- Limits per plan tier (O(tiers)).
          { tiers = { type = "map", required = true, len_min = 1, keys = { type = "string" }, values = tier_limits } },
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
}
