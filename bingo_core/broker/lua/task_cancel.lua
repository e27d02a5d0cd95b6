-- task_cancel: ask the worker running an active task to cancel it. The request is kept in
-- a zset that the worker's heartbeat reads; it is dropped after ARGV[3] seconds.
-- KEYS[1] -> P:{q}:cancel      (zset id -> requested at)
-- KEYS[2] -> P:{q}:t:          (task key prefix: the task hash is KEYS[2] .. id)
-- ARGV[1] -> id
-- ARGV[2] -> now (epoch seconds)
-- ARGV[3] -> how long a request is kept (seconds)
-- Returns 1 requested, 0 no such task, -1 the task is not active.
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[2]) - tonumber(ARGV[3]))
local tkey = KEYS[2] .. ARGV[1]
local state = redis.call("HGET", tkey, "state")
if not state then
  return 0
end
if state ~= "active" then
  return -1
end
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
redis.call("HSET", tkey, "cancel_requested", ARGV[2])
return 1
