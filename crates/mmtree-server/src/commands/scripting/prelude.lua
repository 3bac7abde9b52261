-- The Redis API and the sandbox, run once in every Lua state before any script or library is
-- compiled (chunk name "@redis_api": the error handler skips its frames). `api` holds the few
-- functions written in Rust. Returns the pieces the Rust side drives: the scripts' global
-- environment, the real globals behind it (KEYS and ARGV are set there), and the runners.
local api = ...

local dbg_getinfo, dbg_sethook = debug.getinfo, debug.sethook
debug = nil

local real = _G
local type, error, tostring, select, pairs, ipairs, xpcall = type, error, tostring, select, pairs, ipairs, xpcall
local rawget, rawset, setmetatable, getmetatable = rawget, rawset, setmetatable, getmetatable
local loadstring, setfenv, getfenv = loadstring, setfenv, getfenv
local string_sub, string_lower, string_find, concat = string.sub, string.lower, string.find, table.concat

-- What Redis leaves out of the sandbox (no files, no processes, no modules).
for _, name in ipairs({ 'print', 'dofile', 'loadfile', 'module', 'require', 'package', 'os', 'io' }) do
  rawset(real, name, nil)
end

-- Read-only tables, best effort on a stock Lua 5.1 (Redis patches its Lua for this): a
-- protected table is an empty proxy whose reads go to the real table and whose writes fail.
local readonly = setmetatable({}, { __mode = 'k' })
local function deny()
  error('Attempt to modify a readonly table', 2)
end
local locked = {}
setmetatable(locked, { __newindex = deny, __metatable = false })
readonly[locked] = true

local function protect(t)
  local proxy = {}
  setmetatable(proxy, { __index = t, __newindex = deny, __metatable = locked })
  readonly[proxy] = true
  return proxy
end

-- While FUNCTION LOAD runs a library's code, its globals are only the load API (`load_api`,
-- below: `redis` with register_function, log and the version), as in Redis; the functions it
-- registers see the scripts' globals when they run.
local loading = nil
local load_api = {}

-- The scripts' globals: reads of what does not exist fail, as writes do. A script's global
-- read goes to the real globals as a table (no Lua call per read: `redis`, `KEYS`, … are read
-- by nearly every line), whose own metatable makes a missing one the error; while FUNCTION LOAD
-- runs a library, to the load API (`load_library` switches `env_meta.__index`).
local run_globals = {}
local function missing(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local function from_load_api(_, k)
  local v = rawget(load_api, k)
  if v == nil then
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end
  return v
end
local env = {}
local env_meta = { __index = real, __newindex = deny, __metatable = locked }
setmetatable(env, env_meta)
readonly[env] = true

rawset(real, 'setmetatable', function(t, m)
  if readonly[t] then error('Attempt to modify a readonly table', 2) end
  return setmetatable(t, m)
end)
rawset(real, 'rawset', function(t, k, v)
  if readonly[t] then error('Attempt to modify a readonly table', 2) end
  return rawset(t, k, v)
end)
rawset(real, 'getfenv', function(f)
  if f == nil then f = 1 end
  if type(f) == 'number' and f > 0 then f = f + 1 end
  local e = getfenv(f)
  if e == real then return env end
  return e
end)
rawset(real, 'setfenv', function(f, t)
  if f == 0 or type(f) == 'thread' then error('Attempt to modify a readonly table', 2) end
  if type(f) == 'number' and f > 0 then f = f + 1 end
  return setfenv(f, t)
end)
-- Text only (Redis refuses binary chunks), and compiled into the scripts' globals.
local function load_text(s, name)
  if type(s) == 'string' and string_sub(s, 1, 1) == '\27' then
    return nil, 'binary chunks are not allowed'
  end
  local f, e = loadstring(s, name)
  if f then setfenv(f, env) end
  return f, e
end
rawset(real, 'loadstring', load_text)
rawset(real, 'load', function(reader, name)
  if type(reader) == 'string' then return load_text(reader, name) end
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return load_text(concat(parts), name)
end)

-- A script stopped by SCRIPT KILL (or the shutdown) cannot catch that: pcall, xpcall and
-- coroutine.resume raise it again as they return (Redis raises it again at every line).
--
-- They also keep the called function's results in one table: Lua 5.1's own pcall and xpcall
-- push their status past the stack space the results left (an API misuse Lua 5.2 fixed, and
-- Redis' own pcall avoids), which deep pcall recursion reaches.
local pcall_, unpack, coroutine_resume = pcall, unpack, coroutine.resume
local function restop(...)
  if api.stopped() then error('Script killed by user with SCRIPT KILL...', 0) end
  return ...
end
local function pack(...)
  return { n = select('#', ...), ... }
end
local function results(ok, r)
  if api.stopped() then error('Script killed by user with SCRIPT KILL...', 0) end
  if ok then return true, unpack(r, 1, r.n) end
  -- An error from Rust code is its message, as the C libraries' errors are strings.
  if type(r) == 'userdata' then r = api.error_message(r) end
  return false, r
end
rawset(real, 'pcall', function(f, ...)
  if type(f) ~= 'function' then return results(pcall_(f, ...)) end
  return results(pcall_(function(...) return pack(f(...)) end, ...))
end)
rawset(real, 'xpcall', function(f, h)
  if type(f) ~= 'function' then return results(xpcall(f, h)) end
  return results(xpcall(function() return pack(f()) end, h))
end)
rawget(real, 'coroutine').resume = function(...) return restop(coroutine_resume(...)) end
-- A coroutine has hooks of its own: each gets the check the main thread's instruction hook makes
-- (the time limit, SCRIPT KILL, the shutdown), so no loop escapes it in a coroutine.
local coroutine_create = coroutine.create
local function check() api.check() end
local function create(f)
  local co = coroutine_create(f)
  dbg_sethook(co, check, '', api.hook_every)
  return co
end
local function pass(ok, ...)
  if not ok then error((...), 0) end
  return ...
end
rawget(real, 'coroutine').create = create
rawget(real, 'coroutine').wrap = function(f)
  local co = create(f)
  return function(...) return pass(restop(coroutine_resume(co, ...))) end
end

-- True while a script or function runs (set by the runners; nil otherwise): `redis.call` works
-- then only. (`loading`, above: the functions a library registers while FUNCTION LOAD runs it,
-- nil otherwise.)
local current = nil

local function fail(msg)
  error({ err = 'ERR ' .. msg })
end

-- `redis.call`'s work, in Rust: a few arguments are passed as they are, many packed in a table
-- (`{n = count, ...}`: mlua keeps each value it receives in a slot of its reference stack, about
-- 8,000 of them, which a table's values read one at a time do not fill). Both return (true,
-- reply) or (false, error table).
local command, command_args = api.command, api.command_args
local FEW = 32

local redis = {}

redis.call = function(...)
  if current == nil then fail('redis.call/pcall can only be called inside a script invocation') end
  local ok, v
  if select('#', ...) <= FEW then
    ok, v = command_args(...)
  else
    ok, v = command({ n = select('#', ...), ... })
  end
  if not ok then error(v) end
  return v
end

redis.pcall = function(...)
  if current == nil then fail('redis.call/pcall can only be called inside a script invocation') end
  local _, v
  if select('#', ...) <= FEW then
    _, v = command_args(...)
  else
    _, v = command({ n = select('#', ...), ... })
  end
  return v
end

redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then fail('wrong number of arguments') end
  local s = ...
  if type(s) ~= 'string' and type(s) ~= 'number' then s = '' end
  return api.sha1hex(tostring(s))
end

redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  return { err = api.error_text(e) }
end

redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then
    return { err = 'ERR wrong number or type of arguments' }
  end
  return { ok = s }
end

redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then fail('redis.log() requires two arguments or more.') end
  local level = ...
  if type(level) ~= 'number' then fail('First argument must be a number (log level).') end
  if level < 0 or level > 3 then fail('Invalid debug level.') end
  local parts = {}
  for i = 2, n do
    local v = select(i, ...)
    if type(v) == 'string' or type(v) == 'number' then parts[#parts + 1] = tostring(v) end
  end
  api.log(level, concat(parts, ' '))
end

redis.setresp = function(...)
  if select('#', ...) ~= 1 then fail('redis.setresp() requires one argument.') end
  local v = ...
  if v ~= 2 and v ~= 3 then fail('RESP version must be 2 or 3.') end
  api.setresp(v)
end

redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.set_repl = function(...)
  if select('#', ...) ~= 1 then fail('redis.set_repl() requires two arguments.') end
  local v = ...
  if type(v) ~= 'number' or v < 0 or v > 3 then
    fail('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.')
  end
end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.REDIS_VERSION = api.version
redis.REDIS_VERSION_NUM = api.version_num

local flag_names = {
  ['no-writes'] = true, ['allow-oom'] = true, ['allow-stale'] = true, ['no-cluster'] = true,
  ['allow-cross-slot-keys'] = true,
}

local function valid_name(name)
  return name ~= '' and not string_find(name, '[^%w_]')
end

local function register_function(...)
  if loading == nil then fail('redis.register_function can only be called on FUNCTION LOAD command') end
  local n = select('#', ...)
  local name, callback, description, flags = nil, nil, nil, {}
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      fail('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
    end
    for k, v in pairs(t) do
      if type(k) ~= 'string' then fail('named argument key given to redis.register_function is not a string') end
      local key = string_lower(k)
      if key == 'function_name' then
        if type(v) ~= 'string' and type(v) ~= 'number' then
          fail('function_name argument given to redis.register_function must be a string')
        end
        name = tostring(v)
      elseif key == 'description' then
        if type(v) ~= 'string' and type(v) ~= 'number' then
          fail('description argument given to redis.register_function must be a string')
        end
        description = tostring(v)
      elseif key == 'callback' then
        if type(v) ~= 'function' then fail('callback argument given to redis.register_function must be a function') end
        callback = v
      elseif key == 'flags' then
        if type(v) ~= 'table' then
          fail('flags argument to redis.register_function must be a table representing function flags')
        end
        for _, f in pairs(v) do
          if type(f) ~= 'string' or not flag_names[string_lower(f)] then fail('unknown flag given') end
          flags[#flags + 1] = string_lower(f)
        end
      else
        fail('unknown argument given to redis.register_function')
      end
    end
    if name == nil then fail('redis.register_function must get a function name argument') end
    if callback == nil then fail('redis.register_function must get a callback argument') end
  elseif n == 2 then
    name, callback = ...
    if type(name) ~= 'string' and type(name) ~= 'number' then
      fail('first argument to redis.register_function must be a string')
    end
    name = tostring(name)
    if type(callback) ~= 'function' then fail('second argument to redis.register_function must be a function') end
  else
    fail('wrong number of arguments to redis.register_function')
  end
  if not valid_name(name) then
    fail('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
  end
  for _, f in ipairs(loading) do
    if string_lower(f.name) == string_lower(name) then fail('Function already exists in the library') end
  end
  loading[#loading + 1] = { name = name, callback = callback, description = description, flags = flags }
end

-- A table whose missing fields are errors, as Redis' load API.
local function strict(t)
  local proxy = {}
  setmetatable(proxy, {
    __index = function(_, k)
      local v = rawget(t, k)
      if v == nil then
        error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
      end
      return v
    end,
    __newindex = deny,
    __metatable = locked,
  })
  readonly[proxy] = true
  return proxy
end
load_api.redis = strict({
  register_function = register_function,
  log = redis.log,
  LOG_DEBUG = redis.LOG_DEBUG, LOG_VERBOSE = redis.LOG_VERBOSE,
  LOG_NOTICE = redis.LOG_NOTICE, LOG_WARNING = redis.LOG_WARNING,
  REDIS_VERSION = redis.REDIS_VERSION, REDIS_VERSION_NUM = redis.REDIS_VERSION_NUM,
})

rawset(real, 'redis', protect(redis))
rawset(real, 'cjson', protect(api.cjson))
rawset(real, 'cmsgpack', protect(api.cmsgpack))
rawset(real, 'struct', protect(api.struct))
rawset(real, 'bit', protect(api.bit))
for _, name in ipairs({ 'string', 'math', 'table', 'coroutine' }) do
  local lib = rawget(real, name)
  if lib then rawset(real, name, protect(lib)) end
end
rawset(real, '_G', env)
-- Strings' methods go through the read-only proxy too, and their metatable is hidden.
local string_meta = getmetatable('')
string_meta.__index = rawget(real, 'string')
string_meta.__metatable = locked

-- The error handler: an error becomes a table {err=..., source=..., line=...} naming the line of
-- the script (not of this file, nor of a C function) where it was raised.
local function handler(err)
  local level = 2
  local info = dbg_getinfo(level, 'Sl')
  while info and (info.what == 'C' or info.what == 'tail' or info.source == '@redis_api') do
    level = level + 1
    info = dbg_getinfo(level, 'Sl')
  end
  if type(err) == 'userdata' then
    -- An error raised by Rust code (a library function, the hook): its message alone.
    err = api.error_message(err)
  end
  if type(err) ~= 'table' then
    err = { err = 'ERR ' .. tostring(err) }
  end
  if info then
    rawset(err, 'source', info.source)
    rawset(err, 'line', info.currentline)
  end
  return err
end

-- The script or function being run, and its arguments: the runners call it through `call_eval` and
-- `call_function`, made once (a closure made per run is garbage for every script).
local running, running_keys, running_args = nil, nil, nil
local function call_eval() return (running()) end
local function call_function() return (running(running_keys, running_args)) end

-- EVAL: the script's chunk, run with KEYS and ARGV as globals (in `run_globals`, behind the real
-- globals: plain table writes, not a rawset call each).
local function run(f, keys, argv)
  run_globals.KEYS, run_globals.ARGV = keys, argv
  current, running = true, f
  local ok, res = xpcall(call_eval, handler)
  current, running = nil, nil
  run_globals.KEYS, run_globals.ARGV = nil, nil
  return ok, res
end

-- FCALL: the registered callback, given the keys and the arguments.
local function run_function(f, keys, args)
  current, running, running_keys, running_args = true, f, keys, args
  local ok, res = xpcall(call_function, handler)
  current, running, running_keys, running_args = nil, nil, nil, nil
  return ok, res
end

-- FUNCTION LOAD: runs the library's chunk; returns what it registered.
local function load_library(chunk)
  loading = {}
  env_meta.__index = from_load_api
  local ok, res = xpcall(function() chunk() end, handler)
  local registered = loading
  loading = nil
  env_meta.__index = real
  return ok, res, registered
end

-- From here on a global the real table lacks is looked up in `run_globals` (KEYS and ARGV while
-- an EVAL runs), and one that lacks too is an error (see `env`): nothing below reads one.
setmetatable(run_globals, { __index = missing, __metatable = locked })
setmetatable(real, { __index = run_globals, __metatable = locked })

return { env = env, run = run, run_function = run_function, load_library = load_library }
