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
-- ARGV[2] -> action: "run" (to pending), "archive" or "delete"
-- ARGV[3] -> now (epoch seconds)
-- Returns 1 done, 0 no such task, -1 already in the target state,
--   -2 the task is active (a worker holds it; act on it when it finishes).
local tkey = KEYS[7] .. ARGV[1]
local id, action = ARGV[1], ARGV[2]
local state = redis.call("HGET", tkey, "state")
if not state then
  return 0
end
if state == "active" then
  return -2
end
if (action == "run" and state == "pending") or (action == "archive" and state == "archived") then
  return -1
end
local where = {pending = 1, scheduled = 2, retry = 3, archived = 4, completed = 5}
local from = where[state]
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
    if redis.call("GET", ukey) == id then
      redis.call("DEL", ukey)
    end
  end
  redis.call("DEL", tkey)
elseif action == "archive" then
  redis.call("HSET", tkey, "state", "archived", "failed_at", ARGV[3])
  redis.call("ZADD", KEYS[4], ARGV[3], id)
else
  redis.call("HSET", tkey, "state", "pending")
  redis.call("LPUSH", KEYS[1], id)
  if redis.call("LLEN", KEYS[6]) == 0 then
    redis.call("RPUSH", KEYS[6], "1")
  end
end
return 1
