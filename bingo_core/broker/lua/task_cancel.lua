-- task_cancel: cancel a task. One that waits (pending, scheduled, retry between two
-- attempts, or waiting for its dependencies) is archived at once with the reason "cancelled by <who>"; for an active one
-- the worker running it is asked to stop it: the request is kept in a zset that the
-- worker's heartbeat reads (dropped after ARGV[3] seconds), and who asked in the task hash.
-- KEYS[1] -> P:{q}:cancel      (zset id -> requested at)
-- KEYS[2] -> P:{q}:t:          (task key prefix: the task hash is KEYS[2] .. id)
-- KEYS[3] -> P:{q}:pending
-- KEYS[4] -> P:{q}:scheduled
-- KEYS[5] -> P:{q}:retry
-- KEYS[6] -> P:{q}:archived
-- ARGV[1] -> id
-- ARGV[2] -> now (epoch seconds)
-- ARGV[3] -> how long a request is kept (seconds)
-- ARGV[4] -> who asked ("the dashboard", "the CLI", ...)
-- Returns 1 requested (active), 2 archived now (it was waiting), 0 no such task,
--   -1 the task is archived or completed already.
-- Fails before any write, naming the key, when a key holds the wrong type.
local kinds = {"zset", "hash", "list", "zset", "zset", "zset"}
local tkey = KEYS[2] .. ARGV[1]
for i = 1, 6 do
  local key = i == 2 and tkey or KEYS[i]
  local kind = redis.call("TYPE", key)["ok"]
  if kind ~= "none" and kind ~= kinds[i] then
    return redis.error_reply("WRONGTYPE key " .. key .. " holds a " .. kind .. ", expected a " .. kinds[i])
  end
end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[2]) - tonumber(ARGV[3]))
local state = redis.call("HGET", tkey, "state")
if not state then
  return 0
end
if state == "active" then
  redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
  redis.call("HSET", tkey, "cancel_requested", ARGV[2], "cancel_by", ARGV[4])
  return 1
end
local waiting = {pending = 3, scheduled = 4, retry = 5, waiting = 0}
local from = waiting[state]
if not from then
  return -1
end
if from == 0 then
  bingo_unlink(KEYS[2], ARGV[1])
elseif from == 3 then
  redis.call("LREM", KEYS[3], 0, ARGV[1])
else
  redis.call("ZREM", KEYS[from], ARGV[1])
end
local when = {pending = "while it was pending", scheduled = "before its scheduled time",
  retry = "while it waited for a retry", waiting = "while it waited for its dependencies"}
redis.call("HSET", tkey, "state", "archived", "failed_at", ARGV[2],
  "error", "cancelled by " .. ARGV[4] .. " " .. when[state], "cancel_by", ARGV[4])
redis.call("ZADD", KEYS[6], ARGV[2], ARGV[1])
bingo_wake(KEYS[2], ARGV[1], "a")
return 2
