-- archive: a leased task failed for good (retries exhausted, SkipRetry, bad payload,
-- malformed message); keep it in the archive, trimmed by size and age.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:archived    (zset id -> archived at)
-- KEYS[3] -> P:{q}:processed
-- KEYS[4] -> P:{q}:processed:<date>
-- KEYS[5] -> P:{q}:failed
-- KEYS[6] -> P:{q}:failed:<date>
-- ARGV[1] -> task key prefix P:{q}:t:
-- ARGV[2] -> id
-- ARGV[3] -> worker id ("" to skip the ownership check)
-- ARGV[4] -> error text
-- ARGV[5] -> now (epoch seconds)
-- ARGV[6] -> archive max size (tasks)
-- ARGV[7] -> archive cutoff: tasks archived before it are deleted (epoch seconds)
-- ARGV[8] -> TTL of the daily counters (seconds)
-- Returns 1, or 0 when this worker no longer held the task.
local prefix = ARGV[1]
local tkey = prefix .. ARGV[2]
if ARGV[3] ~= "" and redis.call("HGET", tkey, "worker") ~= ARGV[3] then
  return 0
end
redis.call("ZREM", KEYS[1], ARGV[2])
redis.call("HSET", tkey, "state", "archived", "error", ARGV[4], "failed_at", ARGV[5])
redis.call("HDEL", tkey, "worker")
redis.call("ZADD", KEYS[2], ARGV[5], ARGV[2])
for k = 3, 6 do
  redis.call("INCR", KEYS[k])
end
redis.call("EXPIRE", KEYS[4], ARGV[8])
redis.call("EXPIRE", KEYS[6], ARGV[8])
local old = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", "(" .. ARGV[7], "LIMIT", 0, 100)
for _, id in ipairs(old) do
  redis.call("DEL", prefix .. id)
  redis.call("ZREM", KEYS[2], id)
end
local extra = redis.call("ZCARD", KEYS[2]) - tonumber(ARGV[6])
if extra > 0 then
  local oldest = redis.call("ZRANGE", KEYS[2], 0, extra - 1)
  for _, id in ipairs(oldest) do
    redis.call("DEL", prefix .. id)
  end
  redis.call("ZREMRANGEBYRANK", KEYS[2], 0, extra - 1)
end
return 1
