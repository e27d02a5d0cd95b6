-- wf_enqueue: write a whole workflow (Client.enqueue_workflow) in one step: its steps as
-- tasks of one queue linked by depends_on edges (see enqueue_deps.lua and _wake.lua), and
-- its record. A step with no dependency goes to pending; the others are "waiting" with
-- "deps_open" = their dependency count (none for one: _wake.lua), their id in
-- P:{q}:dependents:<dep> of each, whose hash gets "dependents" = 1; a step of this call
-- that one step waits for holds its id in its hash instead, "dependents" = "=<id>", and
-- no set (most steps of a group or chain). Each step's hash holds "wf" (the workflow id): ack.lua
-- counts it done, _wake.lua fails the workflow when it is archived, cancelled or deleted.
-- KEYS[1] -> P:{q}:pending     (list)
-- KEYS[2] -> P:{q}:notify      (list of wake-up tokens)
-- KEYS[3] -> P:{q}:t:          (task key prefix)
-- KEYS[4] -> P:{q}:waiting     (zset id -> enqueued at)
-- KEYS[5] -> P:{q}:dependents: (prefix of the dependents sets)
-- KEYS[6] -> P:{q}:wf:<id>     (hash: the workflow record)
-- KEYS[7] -> P:{q}:wf:<id>:steps (list of the step ids, in flow order)
-- KEYS[8] -> P:{q}:workflows   (zset workflow id -> created at; trimmed of the ended
--   workflows whose record expired, P:{q}:workflows:ends: _wf_trim.lua)
-- KEYS[9] -> P:{q}:workflows:away (hash workflow id -> home queue: the parts of workflows
--   whose record is in another queue)
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> workflow id
-- ARGV[3] -> the ids of the last steps (comma-joined): their results are the workflow's
-- ARGV[4] -> "1": the flow ends with a group (its result is the list of the members'),
--   "0": with one step
-- ARGV[5] -> how long the record is kept after the workflow ends (seconds)
-- ARGV[6] -> on_failure step id ("" = none), ARGV[7] -> its message
-- ARGV[8] -> the flow's shape (workflow.shape_of: "[.{..}.]"; the dashboard's tree)
-- ARGV[9] -> "" this queue is the workflow's home (it keeps the record), or the home
--   queue: this call writes the steps of this queue only (a part), called before the home
-- ARGV[10] -> the home: the other queues holding steps (comma-joined; told when it ends,
--   and each opened with a "dep" relay of the workflow id, see _relay.lua)
-- ARGV[11] -> the home: the queue of the on_failure step when it is another ("" = this)
-- ARGV[12] -> the home: how many steps the workflow has in all its queues
-- ARGV[13] -> the home: each step's queue in flow order, as its index in the home and
--   ARGV[10]'s queues (0 = the home), comma-joined ("" = every step is in the home)
-- then per step, dependencies before dependents: id, msg (JSON), lim ("" = none), the
--   other queues holding steps that wait for it (comma-joined, "" = none), "1" when the
--   workflow's result is made of its result and the home is another queue ("0"), n,
--   then the n ids of the tasks it waits for: steps earlier in this call, or of other
--   queues (a part's root step waits for the workflow id: the home opens it)
-- A part's steps are staged until the home's call opens them: the workflow id goes to
-- P:{q}:workflows:staged (zset id -> deadline, now + STAGED_FOR); the "dep" relay of the
-- workflow id takes it out, and past the deadline the sweep (staging.py) deletes the part
-- when the record never appeared. The home's call is refused when a sweep found the
-- record missing (P:{q}:wf:<id>:void, kept a day), so a workflow is whole or absent.
-- Fails before any write, naming the key, when a key holds the wrong type.
-- Returns 1 written, 0 the workflow id or a step id exists (nothing written).
local STAGED_FOR = 600
local kinds = {"list", "list", "", "zset", "", "hash", "list", "zset", "hash"}
for i = 1, 9 do
  local kind = redis.call("TYPE", KEYS[i])["ok"]
  if kinds[i] ~= "" and kind ~= "none" and kind ~= kinds[i] then
    return redis.error_reply("WRONGTYPE key " .. KEYS[i] .. " holds a " .. kind .. ", expected a " .. kinds[i])
  end
end
if redis.call("EXISTS", KEYS[6], KEYS[7], KEYS[6] .. ":void") > 0 then
  return 0
end
local home = ARGV[9]
local prefix = KEYS[3]
local steps = {}
local tkeys = {}
local dependents, dep_keys = {}, {}  -- the ids waiting for each id, per id
local here = {}  -- the steps of this call
local b = 14
local argc = #ARGV
while b <= argc do
  local n = tonumber(ARGV[b + 5])
  steps[#steps + 1] = b
  tkeys[#tkeys + 1] = prefix .. ARGV[b]
  here[ARGV[b]] = true
  for k = 1, n do
    local dep = ARGV[b + 5 + k]
    local list = dependents[dep]
    if list == nil then
      list = {}
      dependents[dep] = list
      dep_keys[#dep_keys + 1] = dep
    end
    list[#list + 1] = ARGV[b]
  end
  b = b + 6 + n
end
if ARGV[6] ~= "" then
  tkeys[#tkeys + 1] = prefix .. ARGV[6]
end
-- (one EXISTS per CHUNK keys: a call to Redis from a script costs more than its work)
for i = 1, #tkeys, 1000 do
  if redis.call("EXISTS", unpack(tkeys, i, math.min(i + 999, #tkeys))) > 0 then
    return 0
  end
end
local wf = ARGV[2]
-- Each step's hash is one HSET (with "dependents" when steps wait for it); the list,
-- zset and set writes are gathered and made a few calls (CHUNK values at most each).
local CHUNK = 1000
local function push(cmd, key, values, per)
  for i = 1, #values, CHUNK * per do
    redis.call(cmd, key, unpack(values, i, math.min(i + CHUNK * per - 1, #values)))
  end
end
local roots, waiting, ids = {}, {}, {}
for _, s in ipairs(steps) do
  local id, msg, lim, n = ARGV[s], ARGV[s + 1], ARGV[s + 2], tonumber(ARGV[s + 5])
  local fields = {"msg", msg, "wf", wf}
  if lim ~= "" then
    fields[#fields + 1] = "lim"
    fields[#fields + 1] = lim
  end
  if ARGV[s + 3] ~= "" then
    fields[#fields + 1] = "relay"
    fields[#fields + 1] = ARGV[s + 3]
  end
  local list = dependents[id]
  if list and #list == 1 then  -- (its one dependent here in its hash, no set)
    fields[#fields + 1] = "dependents"
    fields[#fields + 1] = "=" .. list[1]
  elseif list or ARGV[s + 3] ~= "" then
    fields[#fields + 1] = "dependents"
    fields[#fields + 1] = 1
  end
  if home ~= "" then
    fields[#fields + 1] = "wfq"
    fields[#fields + 1] = home
    if ARGV[s + 4] == "1" then
      fields[#fields + 1] = "wflast"
      fields[#fields + 1] = 1
    end
  end
  if n > 0 then
    local deps = {}
    for k = 1, n do
      deps[k] = ARGV[s + 5 + k]
    end
    fields[#fields + 1] = "state"
    fields[#fields + 1] = "waiting"
    if n > 1 then  -- (none: every dependency is open)
      fields[#fields + 1] = "deps_open"
      fields[#fields + 1] = n
    end
    fields[#fields + 1] = "depends_on"
    fields[#fields + 1] = table.concat(deps, ",")
    waiting[#waiting + 1] = ARGV[1]
    waiting[#waiting + 1] = id
  else
    fields[#fields + 1] = "state"
    fields[#fields + 1] = "pending"
    roots[#roots + 1] = id
  end
  redis.call("HSET", prefix .. id, unpack(fields))
  ids[#ids + 1] = id
end
push("ZADD", KEYS[4], waiting, 2)
for _, dep in ipairs(dep_keys) do
  if not here[dep] or #dependents[dep] > 1 then
    push("SADD", KEYS[5] .. dep, dependents[dep], 1)
  end
end
push("LPUSH", KEYS[1], roots, 1)
push("RPUSH", KEYS[7], ids, 1)
if home ~= "" then
  redis.call("HSET", KEYS[9], wf, home)
  redis.call("ZADD", string.sub(prefix, 1, -3) .. "workflows:staged", tonumber(ARGV[1]) + STAGED_FOR, wf)
  if redis.call("LLEN", KEYS[2]) == 0 then
    redis.call("RPUSH", KEYS[2], "1")
  end
  return 1
end
redis.call("HSET", KEYS[6], "state", "running", "total", tonumber(ARGV[12]) or #steps, "done", 0, "created", ARGV[1],
  "last", ARGV[3], "group", ARGV[4], "keep", ARGV[5], "step_keep", "")
if ARGV[6] ~= "" then
  redis.call("HSET", KEYS[6], "on_failure_id", ARGV[6], "on_failure", ARGV[7])
end
if ARGV[8] ~= "" then
  redis.call("HSET", KEYS[6], "shape", ARGV[8])
end
if ARGV[10] ~= "" then
  redis.call("HSET", KEYS[6], "queues", ARGV[10])
  for q in string.gmatch(ARGV[10], "[^,]+") do
    bingo_relay_put(string.sub(prefix, 1, -3), q .. "|dep|" .. wf, "c")
  end
end
if ARGV[11] ~= "" then
  redis.call("HSET", KEYS[6], "on_failure_queue", ARGV[11])
end
if ARGV[13] ~= "" then
  redis.call("HSET", KEYS[6], "placement", ARGV[13])
end
bingo_wf_trim(string.sub(KEYS[8], 1, -10), tonumber(ARGV[1]))  -- _wf_trim.lua
redis.call("ZADD", KEYS[8], ARGV[1], wf)
if redis.call("LLEN", KEYS[2]) == 0 then
  redis.call("RPUSH", KEYS[2], "1")
end
return 1
