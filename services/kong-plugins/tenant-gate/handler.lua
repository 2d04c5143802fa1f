-- tenant-gate: the gateway's bearer-token check and per-tenant / per-user limits.
--
-- Each instance (one per route class) has a `mode`:
--   user      a Keycloak access token (RS256, claim typ "Bearer", aud "api"): the front-door routes;
--             limits per user (`sub`) from the signed-in user's limits;
--   operator  the same, with the operator audience and the required realm roles: /v1/admin/;
--             limits per user;
--   tenant    a tenant token of the provisioning service (ES256, JOSE header typ "at+jwt", aud
--             "tenant-api", claims tenant_id, plan_tier, role): every other /v1/ route; limits per
--             tenant from its plan tier.
--
-- For every request it:
--   1. removes the client's copies of the gateway's headers and of any limit key (strip_headers);
--   2. takes the token from `Authorization: Bearer` only (never a query string or a cookie) and
--      verifies it: header `alg` one of config.algorithms (so never `none` or HS*), a `kid`, the
--      key of that kid in the key set published at config.jwks_url (jwks.lua: cached, refetched
--      on an unknown kid at most once per interval) whose own algorithm is `alg`, and the
--      signature (jws.lua: libcrypto through the FFI);
--   3. checks the claims: `iss`, `aud`, `typ` (claim or JOSE header), `exp` and `nbf` with
--      config.clock_skew_seconds, `iat` not in the future and `exp - iat` at most
--      config.max_lifetime_seconds, a `sub`; per mode the realm roles, or the tenant, tier and role;
--   4. applies the body size limit (the tier's, or the user limits'; Content-Length; a body
--      without one is refused);
--   5. counts the request in fixed windows of a second, a minute and an hour per tenant
--      (`tenant:<tenant_id>`) or per user (`user:<sub>`), in Redis (shared by every Kong pod) or
--      in the local shared dict; over any limit is 429;
--   6. passes the verified facts to the upstream in headers it sets itself.
-- Status codes: 401 missing, bad or unverifiable token or claims (never 500 for a key set that
-- cannot be fetched), 403 unknown plan tier, 411 body without Content-Length, 413 body over the
-- limit, 429 over a rate limit, 500 only when no counter store works.
--
-- A token whose signature verified is remembered (per key set, bounded), so a client reusing its
-- token costs no new signature check; every claim is still checked on every request, and the
-- memory holds only while the token's key is still published.

local cjson = require "cjson.safe"
local base64 = require "ngx.base64"
local jws = require "kong.plugins.tenant-gate.jws"
local jwks = require "kong.plugins.tenant-gate.jwks"

local TenantGate = {
  PRIORITY = 1450, -- the authentication plugins' slot (the bundled jwt's), before request-size-limiting (951)
  VERSION = "2.0.0",
}

-- Windows in seconds, checked from the shortest.
local PERIODS = { { name = "second", seconds = 1 }, { name = "minute", seconds = 60 }, { name = "hour", seconds = 3600 } }

local MAX_TOKEN_BYTES = 8192
local MAX_SUBJECT_BYTES = 255
-- Verified tokens remembered per key set URL: two generations of this many (at most twice as many).
local VERIFIED_GENERATION = 2048

local function refuse(reason, challenge)
  kong.log.info("tenant-gate: refused: ", reason)
  return kong.response.exit(401, { message = "Unauthorized" }, { ["WWW-Authenticate"] = challenge or 'Bearer error="invalid_token"' })
end

local function decode_segment(segment)
  local raw = base64.decode_base64url(segment)
  if not raw then return nil end
  local value = cjson.decode(raw)
  if type(value) ~= "table" then return nil end
  return value
end

local function contains(list, value)
  if type(list) ~= "table" then return false end
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

local function audience_matches(aud, expected)
  if type(aud) == "string" then return aud == expected end
  return contains(aud, expected)
end

-- RFC 7515 4.1.9 / RFC 9068: "at+jwt" and "application/at+jwt", compared without case.
local function media_type(value)
  if type(value) ~= "string" then return nil end
  value = value:lower()
  return (value:gsub("^application/", ""))
end

-- Same rule as TENANT_ID_PATTERN: ^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])$
local function valid_tenant_id(value, conf)
  if type(value) ~= "string" then return false end
  local n = #value
  if n < conf.tenant_id_min_length or n > conf.tenant_id_max_length then return false end
  return value:match("^[a-z0-9][a-z0-9%-]*[a-z0-9]$") ~= nil
end

-- A subject: printable ASCII without spaces (a Keycloak user id), so it is a safe counter key.
local function valid_subject(value)
  return type(value) == "string" and #value >= 1 and #value <= MAX_SUBJECT_BYTES and value:match("^[!-~]+$") ~= nil
end

local function number(value)
  return type(value) == "number" and value == value and value > -math.huge and value < math.huge
end

---------------------------------------------------------------------------------------------
-- Verified tokens: token -> { header, claims, key }, per key set URL
---------------------------------------------------------------------------------------------
local verified_by_url = {}

local function verified_cache(url)
  local cache = verified_by_url[url]
  if not cache then
    cache = { current = {}, previous = {}, count = 0 }
    verified_by_url[url] = cache
  end
  return cache
end

local function remember(cache, token, entry)
  if cache.count >= VERIFIED_GENERATION then
    cache.previous, cache.current, cache.count = cache.current, {}, 0
  end
  if not cache.current[token] then cache.count = cache.count + 1 end
  cache.current[token] = entry
end

local function recall(cache, token)
  local entry = cache.current[token]
  if entry then return entry end
  entry = cache.previous[token]
  if entry then remember(cache, token, entry) end
  return entry
end

local function forget(cache, token)
  cache.current[token], cache.previous[token] = nil, nil
end

---------------------------------------------------------------------------------------------
-- The token: header and claims of a verified JWS, or nil and why
---------------------------------------------------------------------------------------------

local function bearer_token()
  local value = kong.request.get_header("authorization")
  if type(value) ~= "string" then return nil end
  return value:match("^[Bb][Ee][Aa][Rr][Ee][Rr] +([%w_%-%.]+) *$")
end

local function key_of(keys, alg)
  for _, key in ipairs(keys) do
    if key.alg == alg then return key end
  end
  return nil
end

local function verify(conf, token)
  if #token > MAX_TOKEN_BYTES then return nil, nil, "token of " .. #token .. " bytes" end
  local cache = verified_cache(conf.jwks_url)
  local entry = recall(cache, token)
  if entry then
    -- The policy of this instance, and the key still published (the key set may have changed).
    if not contains(conf.algorithms, entry.header.alg) then return nil, nil, "algorithm " .. tostring(entry.header.alg) end
    local keys = jwks.keys_for(conf, entry.header.kid)
    if not keys or not contains(keys, entry.key) then
      forget(cache, token)
      return nil, nil, "key " .. entry.header.kid .. " no longer published"
    end
    return entry.header, entry.claims
  end

  local h, p, s = token:match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
  if not h then return nil, nil, "not a compact JWS" end
  local header, claims = decode_segment(h), decode_segment(p)
  if not header or not claims then return nil, nil, "malformed header or claims" end
  -- Checked before any key is looked up: `none`, HS* and anything unexpected never fetch a key set.
  if not contains(conf.algorithms, header.alg) then return nil, nil, "algorithm " .. tostring(header.alg) end
  if type(header.kid) ~= "string" or header.kid == "" or #header.kid > 256 then return nil, nil, "no kid" end
  if header.crit ~= nil then return nil, nil, "crit header" end
  local keys, why = jwks.keys_for(conf, header.kid)
  if not keys then return nil, nil, "kid " .. header.kid .. ": " .. tostring(why) end
  local key = key_of(keys, header.alg)
  if not key then return nil, nil, "kid " .. header.kid .. " is not an " .. tostring(header.alg) .. " key" end
  local signature = base64.decode_base64url(s)
  if not signature or not jws.verify(key, header.alg, h .. "." .. p, signature) then return nil, nil, "bad signature" end
  remember(cache, token, { header = header, claims = claims, key = key })
  return header, claims
end

-- nil when the claims are acceptable for this instance, else why not.
local function claims_problem(conf, header, claims, now)
  if claims.iss ~= conf.issuer then return "issuer" end
  if not audience_matches(claims.aud, conf.audience) then return "audience" end
  local typ, expected
  if conf.token_type_in == "header" then
    typ, expected = media_type(header.typ), media_type(conf.token_type)
  else
    typ, expected = claims.typ, conf.token_type
  end
  if typ == nil or typ ~= expected then return "token type " .. tostring(typ) end
  local skew = conf.clock_skew_seconds
  if not number(claims.exp) then return "no exp" end
  if claims.exp + skew <= now then return "expired" end
  if claims.nbf ~= nil and (not number(claims.nbf) or claims.nbf - skew > now) then return "not yet valid (nbf)" end
  if not number(claims.iat) then return "no iat" end
  if claims.iat - skew > now then return "issued in the future" end
  if claims.exp - claims.iat > conf.max_lifetime_seconds then return "lifetime over " .. conf.max_lifetime_seconds .. " s" end
  if not valid_subject(claims.sub) then return "sub" end
  if conf.mode == "operator" then
    local access = claims.realm_access
    local roles = type(access) == "table" and access.roles or nil
    for _, role in ipairs(conf.required_realm_roles or {}) do
      if not contains(roles, role) then return "realm role " .. role end
    end
  end
  return nil
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

---------------------------------------------------------------------------------------------
-- The access phase
---------------------------------------------------------------------------------------------

function TenantGate:access(conf)
  -- 1. Nothing the client says about tenants, users or limit keys reaches the upstream or this code.
  for _, name in ipairs(conf.strip_headers) do
    kong.service.request.clear_header(name)
  end

  -- 2. A verified token from the Authorization header.
  local token = bearer_token()
  if not token then return refuse("no bearer token", "Bearer") end
  local header, claims, why = verify(conf, token)
  if not header then return refuse(why) end

  -- 3. Its claims, for this route class.
  local now = ngx.time()
  local problem = claims_problem(conf, header, claims, now)
  if problem then return refuse(problem) end

  local subject, limits, tenant, tier_name, role
  if conf.mode == "tenant" then
    tenant = claims[conf.tenant_claim]
    if not valid_tenant_id(tenant, conf) then return refuse("tenant claim") end
    role = claims[conf.role_claim]
    if not contains(conf.roles, role) then return refuse("role " .. tostring(role)) end
    tier_name = claims[conf.tier_claim]
    limits = type(tier_name) == "string" and conf.tiers and conf.tiers[tier_name] or nil
    if not limits then
      kong.log.warn("tenant-gate: unknown plan tier ", tostring(tier_name), " for tenant ", tenant)
      return kong.response.exit(403, { message = "Forbidden" })
    end
    subject = "tenant:" .. tenant
  else
    limits = conf.user_limits
    if not limits then
      kong.log.err("tenant-gate: mode ", conf.mode, " without config.user_limits")
      return kong.response.exit(500, { message = "An unexpected error occurred" })
    end
    subject = "user:" .. claims.sub
  end

  -- 4. The body size limit.
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

  -- 5. Rate limits: fixed windows, keyed by the verified tenant or user.
  local keys, ttls = {}, {}
  for i, p in ipairs(PERIODS) do
    local window = now - (now % p.seconds)
    keys[i] = conf.key_prefix .. subject .. ":" .. p.name .. ":" .. window
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

  -- 6. The upstream learns who is calling from us, never from the client.
  kong.service.request.set_header(conf.user_header, claims.sub)
  if conf.mode == "tenant" then
    kong.service.request.set_header(conf.tenant_header, tenant)
    kong.service.request.set_header(conf.tier_header, tier_name)
    kong.service.request.set_header(conf.role_header, role)
  end
end

return TenantGate
