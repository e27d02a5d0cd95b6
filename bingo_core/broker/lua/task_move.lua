-- task_move: the inspector's actions on one task (run now, archive, delete).
-- KEYS[1] -> P:{q}:pending
-- KEYS[2] -> P:{q}:scheduled
-- KEYS[3] -> P:{q}:retry
-- KEYS[4] -> P:{q}:archived
-- KEYS[5] -> P:{q}:completed
-- KEYS[6] -> P:{q}:notify
-- KEYS[7] -> P:{q}:t:          (task key prefix: the task hash is KEYS[7] .. id)
-- KEYS[8] -> P:{q}:unique:     (unique lock prefix: a deleted task's lock is KEYS[8] .. digest)
-- ARGV[1] -> id
-- ARGV[2] -> action: "run" (to pending), "archive" or "delete" (a waiting task leaves its
--   dependencies: "run" starts it without them)
-- ARGV[3] -> now (epoch seconds)
-- ARGV[4] -> (optional) the state the caller listed the task in: a task no longer in it
--   is left alone (-1), e.g. a step a workflow's resume put back ("" = any state)
-- "run" on an archived workflow step puts it back in its workflow, resuming a failed
--   one; a completed workflow step does not run again (-1): bingo_wf_run in
--   _wf_resume.lua.
-- Returns 1 done, 0 no such task, -1 already in the target state (or no longer in
--   ARGV[4]), -2 the task is active (a worker holds it; act on it when it finishes),
--   -3 a step of a cancelled workflow ("run": it is not resumed).
-- A task key that holds no hash can be deleted (the key and the id everywhere) or
--   archived (its value renamed to P:{q}:malformed:<id>, kept, the id archived with the
--   reason); "run" fails naming the key.
-- Fails before any write, naming the key, when KEYS[1] to KEYS[6] holds the wrong type.
local kinds = {"list", "zset", "zset", "zset", "zset", "list"}
for i = 1, 6 do
  local kind = redis.call("TYPE", KEYS[i])["ok"]
  if kind ~= "none" and kind ~= kinds[i] then
    return redis.error_reply("WRONGTYPE key " .. KEYS[i] .. " holds a " .. kind .. ", expected a " .. kinds[i])
  end
end
local tkey = KEYS[7] .. ARGV[1]
local id, action = ARGV[1], ARGV[2]
local kind = redis.call("TYPE", tkey)["ok"]
if kind == "none" then
  return 0
end
if kind ~= "hash" then
  if action == "run" then
    return redis.error_reply("WRONGTYPE key " .. tkey .. " holds a " .. kind
      .. ", not a task hash: it cannot run (archive it to keep its value, or delete it)")
  end
  redis.call("LREM", KEYS[1], 0, id)
  for k = 2, 5 do
    redis.call("ZREM", KEYS[k], id)
  end
  if action == "delete" then
    redis.call("DEL", tkey)
    return 1
  end
  local base = string.sub(KEYS[7], 1, -3) .. "malformed:" .. id
  local aside, n = base, 0
  while redis.call("EXISTS", aside) == 1 do
    n = n + 1
    aside = base .. ":" .. n
  end
  redis.call("RENAME", tkey, aside)
  redis.call("HSET", tkey, "state", "archived", "failed_at", ARGV[3], "error",
    "malformed: key " .. tkey .. " held a " .. kind .. ", not a task hash; its value was renamed to " .. aside)
  redis.call("ZADD", KEYS[4], ARGV[3], id)
  return 1
end
local state = redis.call("HGET", tkey, "state")
if not state then
  return 0
end
if ARGV[4] and ARGV[4] ~= "" and state ~= ARGV[4] then
  return -1
end
if state == "active" then
  return -2
end
if (action == "run" and state == "pending") or (action == "archive" and state == "archived") then
  return -1
end
if action == "run" then
  local code = bingo_wf_run(KEYS[7], id, state, ARGV[3])
  if code then
    return code
  end
end
local where = {pending = 1, scheduled = 2, retry = 3, archived = 4, completed = 5}
local from = where[state]
if state == "completed" then  -- (its dependents were told: see _wake.lua)
  redis.call("HDEL", tkey, "dependents")
end
if state == "waiting" then
  bingo_unlink(KEYS[7], id)
end
if from == 1 then
  redis.call("LREM", KEYS[1], 0, id)
elseif from then
  redis.call("ZREM", KEYS[from], id)
end
if action == "delete" then
  local msg = redis.call("HGET", tkey, "msg")
  local ok, decoded = pcall(cjson.decode, msg or "")
  if ok and type(decoded) == "table" and type(decoded["unique_key"]) == "string" then
    local ukey = KEYS[8] .. decoded["unique_key"]
    if redis.pcall("GET", ukey) == id then
      redis.call("DEL", ukey)
    end
  end
  bingo_wake(KEYS[7], id, "d")
  redis.call("DEL", tkey)
elseif action == "archive" then
  redis.call("HSET", tkey, "state", "archived", "failed_at", ARGV[3])
  redis.call("ZADD", KEYS[4], ARGV[3], id)
  bingo_wake(KEYS[7], id, "a")
else
  redis.call("HSET", tkey, "state", "pending")
  redis.call("LPUSH", KEYS[1], id)
  if redis.call("LLEN", KEYS[6]) == 0 then
    redis.call("RPUSH", KEYS[6], "1")
  end
end
return 1
