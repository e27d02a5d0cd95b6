-- retry: a leased task failed; schedule its next attempt.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:retry       (zset id -> retry at)
-- KEYS[3] -> P:{q}:processed
-- KEYS[4] -> P:{q}:processed:<date>
-- KEYS[5] -> P:{q}:failed
-- KEYS[6] -> P:{q}:failed:<date>
-- ARGV[1] -> task key prefix P:{q}:t:
-- ARGV[2] -> id
-- ARGV[3] -> worker id
-- ARGV[4] -> retry at (epoch seconds)
-- ARGV[5] -> error text
-- ARGV[6] -> now (epoch seconds)
-- ARGV[7] -> TTL of the daily counters (seconds)
-- Returns 1, or 0 when this worker no longer held the task.
local tkey = ARGV[1] .. ARGV[2]
if redis.call("HGET", tkey, "worker") ~= ARGV[3] then
  return 0
end
redis.call("ZREM", KEYS[1], ARGV[2])
redis.call("HINCRBY", tkey, "retried", 1)
redis.call("HSET", tkey, "state", "retry", "error", ARGV[5], "failed_at", ARGV[6])
redis.call("HDEL", tkey, "worker")
redis.call("ZADD", KEYS[2], ARGV[4], ARGV[2])
for k = 3, 6 do
  redis.call("INCR", KEYS[k])
end
redis.call("EXPIRE", KEYS[4], ARGV[7])
redis.call("EXPIRE", KEYS[6], ARGV[7])
return 1
