-- jwks: the published key sets (JWK Sets, RFC 7517) the plugin verifies tokens against, fetched
-- over HTTP (resty.http) and cached per URL in this module's table, i.e. per nginx worker.
--
-- A key set is fetched
--   - on the first token that needs it;
--   - again once it is older than config.jwks_cache_ttl_seconds (periodic refresh: a removed key
--     stops verifying within that time);
--   - again when a token names a kid the cached set does not have (a key rotation: the new key is
--     picked up with no configuration change),
-- but never more than once per config.jwks_refetch_interval_seconds per URL, whatever the tokens
-- say: a storm of unknown kids costs at most one fetch per interval. A failed fetch keeps the
-- cached keys (they go on verifying while the publisher is down) and is retried after the
-- interval. A key whose material did not change keeps its identity across fetches, so a
-- verified token stays verified while its key is published.
local cjson = require "cjson.safe"
local base64 = require "ngx.base64"
local jws = require "kong.plugins.tenant-gate.jws"

local M = {}

-- url -> { keys = { [kid] = { key, ... } } | nil, count, fetched_at, attempted_at, fetching }
local sets = {}

local MAX_BODY_BYTES = 256 * 1024
local MAX_KEYS = 64

local function log(level, ...)
  if kong and kong.log and kong.log[level] then kong.log[level]("tenant-gate: ", ...) end
end

-- The keys of one key set document, indexed by kid (a kid may carry keys of several types).
local function parse(body)
  local doc = cjson.decode(body)
  if type(doc) ~= "table" or type(doc.keys) ~= "table" then return nil, "not a JWK Set" end
  local keys, count = {}, 0
  for i, jwk in ipairs(doc.keys) do
    if i > MAX_KEYS then
      log("warn", "key set has more than ", MAX_KEYS, " keys; the rest are ignored")
      break
    end
    local key, why = jws.parse_jwk(jwk, base64.decode_base64url)
    if key then
      keys[key.kid] = keys[key.kid] or {}
      table.insert(keys[key.kid], key)
      count = count + 1
    else
      log("debug", "key set entry ", i, " skipped: ", why)
    end
  end
  return keys, count
end

local function fetch(url, timeout_ms)
  local http = require "resty.http"
  local httpc = http.new()
  httpc:set_timeout(timeout_ms)
  local res, err = httpc:request_uri(url, {
    method = "GET",
    headers = { ["Accept"] = "application/jwk-set+json, application/json" },
    ssl_verify = true,
  })
  if not res then return nil, tostring(err) end
  if res.status ~= 200 then return nil, "status " .. tostring(res.status) end
  local body = res.body
  if type(body) ~= "string" then return nil, "no body" end
  if #body > MAX_BODY_BYTES then return nil, "body of " .. #body .. " bytes" end
  return parse(body)
end

-- Old key objects are kept where the new set has the same kid and material.
local function merge(old, new)
  if not old then return new end
  for kid, list in pairs(new) do
    local previous = old[kid]
    if previous then
      for i, key in ipairs(list) do
        for _, before in ipairs(previous) do
          if before.material == key.material then list[i] = before end
        end
      end
    end
  end
  return new
end

local function refresh(set, url, conf, now)
  set.attempted_at = now
  set.fetching = true
  local ok, keys, count = pcall(fetch, url, conf.jwks_timeout_ms)
  set.fetching = false
  if not ok then
    log("err", "key set ", url, ": ", keys)
  elseif not keys then
    log("err", "key set ", url, " not refreshed (", count, "); keeping ", set.keys and (set.count .. " cached keys") or "no keys")
  else
    set.keys = merge(set.keys, keys)
    set.count = count
    set.fetched_at = now
    log("debug", "key set ", url, ": ", count, " keys")
  end
end

local function find(set, kid)
  return set.keys and set.keys[kid]
end

--- The keys published under `kid` at conf.jwks_url (a list; nil and why when there are none).
-- Every verification asks, also one whose signature check is cached (the handler then requires
-- the cached key to be in the list): so the periodic refresh runs and a removed key stops
-- verifying.
function M.keys_for(conf, kid)
  local url = conf.jwks_url
  local set = sets[url]
  if not set then
    set = { attempted_at = -math.huge, fetched_at = -math.huge, count = 0 }
    sets[url] = set
  end
  local now = ngx.now()
  local found = find(set, kid)
  -- Another request of this worker is fetching: a kid it may bring is waited for, briefly.
  if not found and set.fetching then
    local deadline = now + conf.jwks_timeout_ms / 1000
    while set.fetching and ngx.now() < deadline do ngx.sleep(0.005) end
    found = find(set, kid)
    now = ngx.now()
  end
  local stale = now - set.fetched_at >= conf.jwks_cache_ttl_seconds
  if (stale or not found) and not set.fetching and now - set.attempted_at >= conf.jwks_refetch_interval_seconds then
    refresh(set, url, conf, now)
    found = find(set, kid)
  end
  if not found then return nil, set.keys and "unknown kid" or "no key set" end
  return found
end

return M
