-- task_move_many: the inspector's bulk actions (run now, archive, delete) on many tasks of
-- one queue, each as task_move does it for one.
-- KEYS[1] -> P:{q}:pending
-- KEYS[2] -> P:{q}:scheduled
-- KEYS[3] -> P:{q}:retry
-- KEYS[4] -> P:{q}:archived
-- KEYS[5] -> P:{q}:completed
-- KEYS[6] -> P:{q}:notify
-- KEYS[7] -> P:{q}:t:          (task key prefix: a task hash is KEYS[7] .. id)
-- KEYS[8] -> P:{q}:unique:     (unique lock prefix: a deleted task's lock is KEYS[8] .. digest)
-- ARGV[1] -> action: "run" (to pending), "archive" or "delete"
-- ARGV[2] -> now (epoch seconds)
-- ARGV[3..] -> ids (at most a few hundred per call)
-- Returns one code per id: 1 done, 0 no such task, -1 already in the target state,
--   -2 the task is active (a worker holds it).
local action, now = ARGV[1], ARGV[2]
local where = {pending = 1, scheduled = 2, retry = 3, archived = 4, completed = 5}
local out = {}
local woke = false
for i = 3, #ARGV do
  local id = ARGV[i]
  local tkey = KEYS[7] .. id
  local state = redis.call("HGET", tkey, "state")
  local code = 1
  if not state then
    code = 0
  elseif state == "active" then
    code = -2
  elseif (action == "run" and state == "pending") or (action == "archive" and state == "archived") then
    code = -1
  else
    local from = where[state]
    if from == 1 then
      -- the ids of a bulk action come from the head (the right end): search from there
      redis.call("LREM", KEYS[1], -1, id)
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
      redis.call("HSET", tkey, "state", "archived", "failed_at", now)
      redis.call("ZADD", KEYS[4], now, id)
    else
      redis.call("HSET", tkey, "state", "pending")
      redis.call("LPUSH", KEYS[1], id)
      woke = true
    end
  end
  out[#out + 1] = code
end
if woke and redis.call("LLEN", KEYS[6]) == 0 then
  redis.call("RPUSH", KEYS[6], "1")
end
return out
