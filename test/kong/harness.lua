-- Runs the tenant-gate Kong plugin outside Kong: stubs of the PDK functions it calls (kong.*),
-- of ngx.time / ngx.now / ngx.sleep / ngx.shared / ngx.base64 and of resty.redis, then plays a
-- scenario. Nothing of the token check is stubbed: signatures are verified by the plugin's own
-- jws.lua through the FFI against the system's libcrypto, and key sets are fetched for real over
-- loopback HTTP by a test-only resty.http that runs `curl` (io.popen), one process per fetch.
--
-- usage: luajit harness.lua <plugin dir> <scenario.json>
-- scenario: { config, redis = { down, password }, steps = [ { request = { headers, token }, now,
--             count, spread = { requests, seconds }, call = [ url ] } ] }
--   request.token goes into `Authorization: Bearer <token>` unless headers name Authorization;
--   call: URLs fetched (GET, curl) before the step's requests: the test server's controls.
-- prints JSON: { schema_errors = [...], jwks_fetches = [ { url, at, status, error } ],
--                steps = [ { status, body, upstream, response_headers, keys, log } (count 1)
--                        | { counts, first_refused, last_status } (count > 1) ] }
local cjson = require "cjson"

local plugin_dir, scenario_path = arg[1], arg[2]
local f = assert(io.open(scenario_path, "rb"))
local scenario = cjson.decode(f:read("*a"))
f:close()

---------------------------------------------------------------------------------------------
-- ngx
---------------------------------------------------------------------------------------------
local clock = 0
local dicts = {}
local touched = {} -- counter keys the current request incremented, in order

local function new_dict()
  local store = {}
  return {
    incr = function(_, key, value, init, ttl)
      touched[#touched + 1] = "local:" .. key
      local e = store[key]
      if e and e.expires and e.expires <= clock then e = nil end
      if not e then
        e = { value = init, expires = ttl and ttl > 0 and (clock + ttl) or nil }
        store[key] = e
      end
      e.value = e.value + value
      return e.value
    end,
  }
end

local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local b64index = {}
for i = 1, #b64 do b64index[b64:sub(i, i)] = i - 1 end

local function decode_base64url(s)
  local bits, nbits, out = 0, 0, {}
  for i = 1, #s do
    local v = b64index[s:sub(i, i)]
    if v == nil then return nil end
    bits = bits * 64 + v
    nbits = nbits + 6
    if nbits >= 8 then
      nbits = nbits - 8
      local byte = math.floor(bits / 2 ^ nbits)
      out[#out + 1] = string.char(byte)
      bits = bits - byte * 2 ^ nbits
    end
  end
  return table.concat(out)
end

_G.ngx = {
  time = function() return math.floor(clock) end,
  now = function() return clock end,
  -- No other request runs meanwhile in the harness, so nothing can change while "sleeping".
  sleep = function() end,
  shared = setmetatable({}, {
    __index = function(_, name)
      if name ~= scenario.config.local_dict and name ~= "kong_rate_limiting_counters" then return nil end
      dicts[name] = dicts[name] or new_dict()
      return dicts[name]
    end,
  }),
}
package.preload["ngx.base64"] = function() return { decode_base64url = decode_base64url } end

-- Kong loads the plugin's files as kong.plugins.<name>.<file>; here from the plugin directory.
table.insert(package.loaders, 2, function(name)
  local file = name:match("^kong%.plugins%.tenant%-gate%.([%w_]+)$")
  if not file then return nil end
  local chunk, err = loadfile(plugin_dir .. "/" .. file .. ".lua")
  if not chunk then error(err) end
  return chunk
end)

---------------------------------------------------------------------------------------------
-- resty.http: real HTTP GETs with curl (test-only transport; Kong has lua-resty-http)
---------------------------------------------------------------------------------------------
local jwks_fetches = {}

local function shell_quote(s)
  assert(not s:find("'", 1, true), "no single quotes in URLs")
  return "'" .. s .. "'"
end

-- status, body of a GET; nil and curl's message when there is no HTTP answer.
local function curl_get(url, timeout_seconds, accept)
  local body_file = os.tmpname()
  local command = table.concat({
    "curl -sS --max-time", string.format("%.3f", timeout_seconds),
    accept and ("-H " .. shell_quote("Accept: " .. accept)) or "",
    "-o", shell_quote(body_file), "-w '%{http_code}'", shell_quote(url), "2>&1",
  }, " ")
  local pipe = assert(io.popen(command, "r"))
  local out = pipe:read("*a")
  pipe:close()
  local f = io.open(body_file, "rb")
  local body = f and f:read("*a") or ""
  if f then f:close() end
  os.remove(body_file)
  local status = tonumber(out:match("(%d%d%d)$"))
  if not status or status == 0 then return nil, (out:gsub("%d%d%d$", ""):gsub("%s+$", "")) end
  return status, body
end

package.preload["resty.http"] = function()
  local H = {}
  H.__index = H
  function H.new() return setmetatable({ timeout = 60000 }, H) end
  function H:set_timeout(ms) self.timeout = ms end
  function H:set_timeouts(connect, send, read) self.timeout = connect + send + read end
  function H:request_uri(url, params)
    assert(params.method == "GET", "the harness's resty.http does GET only")
    local status, body = curl_get(url, self.timeout / 1000, params.headers and params.headers["Accept"])
    jwks_fetches[#jwks_fetches + 1] = { url = url, at = clock, status = status or cjson.null, error = status and cjson.null or body }
    if not status then return nil, body end
    return { status = status, body = body, headers = {} }
  end
  return H
end

---------------------------------------------------------------------------------------------
-- resty.redis: an in-memory server that can be down or demand a password
---------------------------------------------------------------------------------------------
local redis_conf = scenario.redis or {}
local redis_data = {}
local redis_connections = {}

package.preload["resty.redis"] = function()
  local R = {}
  R.__index = R
  function R.new() return setmetatable({ pipeline = nil, authed = false }, R) end
  function R:set_timeouts() end
  function R:connect(host, port, opts)
    if redis_conf.down then return nil, "connection refused" end
    redis_connections[#redis_connections + 1] = { host = host, port = port, ssl = opts and opts.ssl, ssl_verify = opts and opts.ssl_verify, server_name = opts and opts.server_name }
    return true
  end
  function R:get_reused_times() return 0 end
  function R:auth(password)
    if redis_conf.password and password ~= redis_conf.password then return nil, "WRONGPASS" end
    self.authed = true
    return "OK"
  end
  function R:init_pipeline() self.pipeline = {} end
  function R:incr(key) self.pipeline[#self.pipeline + 1] = { "incr", key } end
  function R:expire(key, ttl) self.pipeline[#self.pipeline + 1] = { "expire", key, ttl } end
  function R:commit_pipeline()
    if redis_conf.password and not self.authed then
      local out = {}
      for i = 1, #self.pipeline do out[i] = { false, "NOAUTH Authentication required." } end
      return out
    end
    local out = {}
    for i, cmd in ipairs(self.pipeline) do
      local e = redis_data[cmd[2]]
      if e and e.expires and e.expires <= clock then e = nil; redis_data[cmd[2]] = nil end
      if cmd[1] == "incr" then
        e = e or { value = 0 }
        e.value = e.value + 1
        redis_data[cmd[2]] = e
        touched[#touched + 1] = "redis:" .. cmd[2]
        out[i] = e.value
      else
        if e then e.expires = clock + cmd[3] end
        out[i] = e and 1 or 0
      end
    end
    self.pipeline = nil
    return out
  end
  function R:set_keepalive() return true end
  function R:close() return true end
  return R
end

---------------------------------------------------------------------------------------------
-- kong PDK
---------------------------------------------------------------------------------------------
local EXIT = {}
local req -- the current request

local function lower_keys(t)
  local out = {}
  for k, v in pairs(t or {}) do out[string.lower(k)] = v end
  return out
end

local log_lines = {} -- the current request's log, for single steps
local function logger(level)
  return function(...)
    local parts = { level .. ":" }
    for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
    log_lines[#log_lines + 1] = table.concat(parts, " ")
  end
end

_G.kong = {
  log = { info = logger("info"), warn = logger("warn"), err = logger("err"), debug = function() end },
  ctx = { shared = {} },
  request = { get_header = function(name) return req.headers[string.lower(name)] end },
  service = {
    request = {
      clear_header = function(name) req.upstream[string.lower(name)] = nil end,
      set_header = function(name, value) req.upstream[string.lower(name)] = tostring(value) end,
    },
  },
  response = {
    set_header = function(name, value) req.response_headers[name] = tostring(value) end,
    exit = function(status, body, headers)
      for k, v in pairs(headers or {}) do req.response_headers[k] = v end
      error({ [EXIT] = true, status = status, body = body })
    end,
  },
}

---------------------------------------------------------------------------------------------
-- Schema check: the config must fit schema.lua the way Kong would read it
---------------------------------------------------------------------------------------------
package.preload["kong.db.schema.typedefs"] = function()
  return { no_consumer = { type = "foreign" }, protocols_http = { type = "set" } }
end

local schema_errors = {}
local function check(field, value, path)
  if value == nil or value == cjson.null then
    if field.required then schema_errors[#schema_errors + 1] = path .. ": required" end
    return
  end
  local t = field.type
  if t == "record" then
    if type(value) ~= "table" then schema_errors[#schema_errors + 1] = path .. ": expected a record"; return end
    local known = {}
    for _, entry in ipairs(field.fields) do
      local name, sub = next(entry)
      known[name] = true
      check(sub, value[name], path .. "." .. name)
    end
    for k in pairs(value) do
      if not known[k] then schema_errors[#schema_errors + 1] = path .. "." .. k .. ": unknown field" end
    end
  elseif t == "map" then
    if type(value) ~= "table" then schema_errors[#schema_errors + 1] = path .. ": expected a map"; return end
    local n = 0
    for k, v in pairs(value) do
      n = n + 1
      check(field.keys, k, path .. "[key]")
      check(field.values, v, path .. "." .. tostring(k))
    end
    if field.len_min and n < field.len_min then schema_errors[#schema_errors + 1] = path .. ": too few entries" end
  elseif t == "array" then
    if type(value) ~= "table" then schema_errors[#schema_errors + 1] = path .. ": expected an array"; return end
    if field.len_min and #value < field.len_min then schema_errors[#schema_errors + 1] = path .. ": too short" end
    for i, v in ipairs(value) do check(field.elements, v, path .. "[" .. i .. "]") end
  elseif t == "string" then
    if type(value) ~= "string" then schema_errors[#schema_errors + 1] = path .. ": expected a string"; return end
  elseif t == "integer" then
    if type(value) ~= "number" or value % 1 ~= 0 then schema_errors[#schema_errors + 1] = path .. ": expected an integer"; return end
    if field.gt and not (value > field.gt) then schema_errors[#schema_errors + 1] = path .. ": must be > " .. field.gt end
    if field.between and (value < field.between[1] or value > field.between[2]) then schema_errors[#schema_errors + 1] = path .. ": out of range" end
  elseif t == "boolean" then
    if type(value) ~= "boolean" then schema_errors[#schema_errors + 1] = path .. ": expected a boolean" end
  end
  if field.one_of then
    local ok = false
    for _, v in ipairs(field.one_of) do if v == value then ok = true end end
    if not ok then schema_errors[#schema_errors + 1] = path .. ": not one of the allowed values" end
  end
end

local schema = dofile(plugin_dir .. "/schema.lua")
for _, entry in ipairs(schema.fields) do
  local name, field = next(entry)
  if name == "config" then check(field, scenario.config, "config") end
end

-- Top-level entity checks of the `conditional` kind, on `config.<field>` paths.
local function config_field(path)
  local name = path:match("^config%.([%w_]+)$")
  assert(name, "the harness reads conditional checks on config.<field> only: " .. path)
  local value = scenario.config[name]
  if value == cjson.null then return nil end
  return value
end
for _, entity_check in ipairs(schema.entity_checks or {}) do
  local kind, spec = next(entity_check)
  assert(kind == "conditional", "the harness knows conditional entity checks only, not " .. kind)
  local value, when = config_field(spec.if_field), spec.if_match
  local applies = (when.eq ~= nil and value == when.eq)
  for _, v in ipairs(when.one_of or {}) do if v == value then applies = true end end
  if applies and spec.then_match.required and config_field(spec.then_field) == nil then
    schema_errors[#schema_errors + 1] = spec.then_field .. ": required when " .. spec.if_field .. " is " .. tostring(value)
  end
end

---------------------------------------------------------------------------------------------
-- Play the scenario
---------------------------------------------------------------------------------------------
local handler = dofile(plugin_dir .. "/handler.lua")

local function run_one(r)
  local headers = lower_keys(r.headers)
  if r.token ~= nil and r.token ~= cjson.null and headers["authorization"] == nil then headers["authorization"] = "Bearer " .. r.token end
  req = {
    headers = headers,
    upstream = lower_keys(headers),
    response_headers = {},
  }
  touched = {}
  log_lines = {}
  kong.ctx.shared = {}
  local ok, err = pcall(handler.access, handler, scenario.config)
  if ok then return 200, nil end
  if type(err) == "table" and err[EXIT] then return err.status, err.body end
  error(err)
end

local results = {}
for _, step in ipairs(scenario.steps) do
  clock = step.now or clock
  for _, url in ipairs(step.call or {}) do
    local status, message = curl_get(url, 5)
    assert(status == 200, "control call " .. url .. ": " .. tostring(status or message))
  end
  local count = step.count or 1
  if count == 1 then
    local status, body = run_one(step.request)
    results[#results + 1] = { status = status, body = body or cjson.null, upstream = req.upstream, response_headers = req.response_headers, keys = touched, log = log_lines }
  else
    local counts, first_refused, last = {}, cjson.null, nil
    local start = clock
    local spread = step.spread -- { requests, seconds }: request i at start + floor((i-1) * seconds / requests)
    for i = 1, count do
      if spread then clock = start + math.floor((i - 1) * spread[2] / spread[1]) end
      local status = run_one(step.request)
      counts[tostring(status)] = (counts[tostring(status)] or 0) + 1
      if status ~= 200 and first_refused == cjson.null then first_refused = i end
      last = status
    end
    results[#results + 1] = { counts = counts, first_refused = first_refused, last_status = last }
  end
end

io.write(cjson.encode({ schema_errors = schema_errors, steps = results, redis_connections = redis_connections, jwks_fetches = jwks_fetches }))
