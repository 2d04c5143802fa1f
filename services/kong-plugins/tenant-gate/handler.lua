-- tenant-gate: per-tenant rate and size limits by plan tier, keyed by the VERIFIED token.
--
-- Runs in the access phase after Kong's bundled `jwt` plugin (priority 1450), which has checked
-- the RS256 signature against the realm's key, `exp` and `nbf`, and left the token it verified
-- in `kong.ctx.shared.authenticated_jwt_token`. This plugin never reads a token or a tenant from
-- anywhere else, so a request that did not pass `jwt` has no tenant and is refused.
--
-- For every request it:
--   1. removes the client's copies of the tenant, tier and limit-key headers (config.strip_headers);
--   2. re-checks the verified token: header `alg` in config.algorithms (no `none`, no HS*),
--      `iss`, `aud`, `typ` and `exp`;
--   3. takes `tenant_id` and `plan_tier` from the verified claims (tenant id: 3-63 of [a-z0-9-],
--      starting and ending with a letter or digit, as config/tenancy.ts TENANT_ID_PATTERN);
--   4. applies the tier's body size limit (Content-Length; a body without one is refused);
--   5. counts the request in fixed windows of a second, a minute and an hour per tenant, in Redis
--      (shared by every Kong pod) or in the local shared dict; over any limit is 429;
--   6. passes the tenant and tier to the upstream in headers it sets itself.
-- Status codes: 401 bad or missing verified token / claims, 403 unknown plan tier, 411 body
-- without Content-Length, 413 body over the tier's limit, 429 over a rate limit.

local cjson = require "cjson.safe"
local base64 = require "ngx.base64"

local TenantGate = {
  PRIORITY = 1000, -- after jwt (1450), before request-size-limiting (951) and the proxy
  VERSION = "1.0.0",
}

-- Windows in seconds, checked from the shortest.
local PERIODS = { { name = "second", seconds = 1 }, { name = "minute", seconds = 60 }, { name = "hour", seconds = 3600 } }

local function unauthorized(reason)
  kong.log.info("tenant-gate: refused: ", reason)
  return kong.response.exit(401, { message = "Unauthorized" }, { ["WWW-Authenticate"] = 'Bearer error="invalid_token"' })
end

local function decode_segment(segment)
  if type(segment) ~= "string" or segment == "" then return nil end
  local raw = base64.decode_base64url(segment)
  if not raw then return nil end
  local value = cjson.decode(raw)
  if type(value) ~= "table" then return nil end
  return value
end

-- header, claims of a compact JWS; nil when it is not one.
local function decode_jwt(token)
  if type(token) ~= "string" then return nil end
  local h, p, s = token:match("^([%w_-]+)%.([%w_-]+)%.([%w_-]*)$")
  if not h or not s then return nil end
  local header, claims = decode_segment(h), decode_segment(p)
  if not header or not claims then return nil end
  return header, claims
end

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

local function audience_matches(aud, expected)
  if type(aud) == "string" then return aud == expected end
  if type(aud) == "table" then return contains(aud, expected) end
  return false
end

-- Same rule as TENANT_ID_PATTERN: ^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])$
local function valid_tenant_id(value, conf)
  if type(value) ~= "string" then return false end
  local n = #value
  if n < conf.tenant_id_min_length or n > conf.tenant_id_max_length then return false end
  return value:match("^[a-z0-9][a-z0-9%-]*[a-z0-9]$") ~= nil
end

---------------------------------------------------------------------------------------------
-- Counter stores: incr(keys, ttls) returns the new count of every key, or nil and an error.
---------------------------------------------------------------------------------------------

local function local_store(conf)
  local dict = ngx.shared[conf.local_dict]
  if not dict then return nil, "no lua_shared_dict " .. tostring(conf.local_dict) end
  return {
    incr = function(keys, ttls)
      local counts = {}
      for i, key in ipairs(keys) do
        local count, err = dict:incr(key, 1, 0, ttls[i])
        if not count then return nil, err end
        counts[i] = count
      end
      return counts
    end,
  }
end

local function redis_store(conf)
  local r = conf.redis
  if not r or not r.host then return nil, "policy is redis but config.redis.host is not set" end
  local redis = require "resty.redis"
  return {
    incr = function(keys, ttls)
      local red = redis:new()
      local timeout = r.timeout_ms or 100
      red:set_timeouts(timeout, timeout, timeout)
      local ok, err = red:connect(r.host, r.port or 6379, {
        ssl = r.ssl, ssl_verify = r.ssl_verify, server_name = r.server_name,
        pool = "tenant-gate:" .. r.host .. ":" .. tostring(r.port or 6379),
      })
      if not ok then return nil, "redis connect: " .. tostring(err) end
      if r.password and r.password ~= "" then
        local times = red:get_reused_times()
        if not times or times == 0 then
          local authed, auth_err = red:auth(r.password)
          if not authed then red:close(); return nil, "redis auth: " .. tostring(auth_err) end
        end
      end
      red:init_pipeline()
      for i, key in ipairs(keys) do
        red:incr(key)
        red:expire(key, ttls[i])
      end
      local results, perr = red:commit_pipeline()
      if not results then red:close(); return nil, "redis pipeline: " .. tostring(perr) end
      local counts = {}
      for i = 1, #keys do
        local count = results[2 * i - 1]
        if type(count) ~= "number" then red:close(); return nil, "redis incr: " .. tostring(count and count[2] or count) end
        counts[i] = count
      end
      red:set_keepalive(10000, 100)
      return counts
    end,
  }
end

-- Redis when configured; the local dict when Redis fails, so limits still hold (per pod).
local function count(conf, keys, ttls)
  if conf.policy == "redis" then
    local store, err = redis_store(conf)
    local counts
    if store then counts, err = store.incr(keys, ttls) end
    if counts then return counts end
    kong.log.err("tenant-gate: redis counters unavailable, counting locally: ", err)
  end
  local store, err = local_store(conf)
  if not store then return nil, err end
  return store.incr(keys, ttls)
end

function TenantGate:access(conf)
  -- 1. Nothing the client says about tenants or limit keys reaches the upstream or this code.
  for _, name in ipairs(conf.strip_headers) do
    kong.service.request.clear_header(name)
  end

  -- 2. Only a token the jwt plugin verified, with its credential, counts.
  local token = kong.ctx.shared.authenticated_jwt_token
  if not token or not kong.client.get_credential() then return unauthorized("no verified token") end
  local header, claims = decode_jwt(token)
  if not header then return unauthorized("malformed token") end
  if not contains(conf.algorithms, header.alg) then return unauthorized("algorithm " .. tostring(header.alg)) end
  if claims.iss ~= conf.issuer then return unauthorized("issuer") end
  if not audience_matches(claims.aud, conf.audience) then return unauthorized("audience") end
  if not contains(conf.token_types, claims.typ) then return unauthorized("token type " .. tostring(claims.typ)) end
  local now = ngx.time()
  if type(claims.exp) ~= "number" or claims.exp <= now then return unauthorized("expired") end

  -- 3. The tenant and its tier come from the verified claims only.
  local tenant = claims[conf.tenant_claim]
  if not valid_tenant_id(tenant, conf) then return unauthorized("tenant claim") end
  local tier_name = claims[conf.tier_claim]
  local limits = type(tier_name) == "string" and conf.tiers[tier_name] or nil
  if not limits then
    kong.log.warn("tenant-gate: unknown plan tier ", tostring(tier_name), " for tenant ", tenant)
    return kong.response.exit(403, { message = "Forbidden" })
  end

  -- 4. The tier's body size limit.
  local length = kong.request.get_header("content-length")
  if length then
    local bytes = tonumber(length)
    if not bytes or bytes < 0 or bytes % 1 ~= 0 then return kong.response.exit(400, { message = "Bad Request" }) end
    if bytes > limits.max_body_kib * 1024 then
      return kong.response.exit(413, { message = "Request size limit exceeded" })
    end
  elseif kong.request.get_header("transfer-encoding") then
    return kong.response.exit(411, { message = "Length Required" })
  end

  -- 5. Rate limits per tenant: fixed windows, keyed by the verified tenant id.
  local keys, ttls = {}, {}
  for i, p in ipairs(PERIODS) do
    local window = now - (now % p.seconds)
    keys[i] = conf.key_prefix .. tenant .. ":" .. p.name .. ":" .. window
    ttls[i] = p.seconds + 1
  end
  local counts, err = count(conf, keys, ttls)
  if not counts then
    kong.log.err("tenant-gate: no counter store: ", err)
    return kong.response.exit(500, { message = "An unexpected error occurred" })
  end
  for i, p in ipairs(PERIODS) do
    local limit = limits[p.name]
    kong.response.set_header("X-RateLimit-Limit-" .. p.name, limit)
    kong.response.set_header("X-RateLimit-Remaining-" .. p.name, math.max(0, limit - counts[i]))
  end
  for i, p in ipairs(PERIODS) do
    if counts[i] > limits[p.name] then
      local retry = p.seconds - (now % p.seconds)
      return kong.response.exit(429, { message = "API rate limit exceeded" }, { ["Retry-After"] = tostring(retry) })
    end
  end

  -- 6. The upstream learns the tenant from us, never from the client.
  kong.service.request.set_header(conf.tenant_header, tenant)
  kong.service.request.set_header(conf.tier_header, tier_name)
end

return TenantGate
