-- archive: a leased task failed for good (retries exhausted, SkipRetry, bad payload,
-- malformed message); keep it in the archive, trimmed by size and age.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:archived    (zset id -> archived at)
-- KEYS[3] -> P:{q}:processed
-- KEYS[4] -> P:{q}:processed:<date>
-- KEYS[5] -> P:{q}:failed
-- KEYS[6] -> P:{q}:failed:<date>
-- KEYS[7] -> P:{q}:t:          (task key prefix: a task hash is KEYS[7] .. id)
-- KEYS[8] -> P:{q}:limit:      (limit key prefix, see _limits.lua)
-- KEYS[9] -> P:{q}:throttled
-- KEYS[10] -> P:{q}:pending
-- KEYS[11] -> P:{q}:notify
-- ARGV[1] -> id
-- ARGV[2] -> worker id ("" to skip the ownership check)
-- ARGV[3] -> error text
-- ARGV[4] -> now (epoch seconds)
-- ARGV[5] -> archive max size (tasks)
-- ARGV[6] -> archive cutoff: tasks archived before it are deleted (epoch seconds)
-- ARGV[7] -> TTL of the daily counters (seconds)
-- Frees a limited task's concurrency slot (the next held task of its subject goes to the
--   head of pending) when this worker held it.
-- Returns 1, or 0 when this worker no longer held the task.
-- Fails before any write, naming the key, when KEYS[1], KEYS[2] or the task key holds the
--   wrong type (the task stays leased; the recoverer deals with it when the lease ends).
--   The counters are best effort.
local prefix = KEYS[7]
local tkey = prefix .. ARGV[1]
for _, e in ipairs({{KEYS[1], "zset"}, {KEYS[2], "zset"}, {tkey, "hash"}}) do
  local kind = redis.call("TYPE", e[1])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply("WRONGTYPE key " .. e[1] .. " holds a " .. kind .. ", expected a " .. e[2])
  end
end
if ARGV[2] ~= "" and redis.call("HGET", tkey, "worker") ~= ARGV[2] then
  return 0
end
if redis.call("ZREM", KEYS[1], ARGV[1]) == 1 then
  lim_release(KEYS[8], KEYS[9], KEYS[10], KEYS[11], ARGV[1], redis.call("HGET", tkey, "lim"))
end
redis.call("HSET", tkey, "state", "archived", "error", ARGV[3], "failed_at", ARGV[4])
redis.call("HDEL", tkey, "worker")
bingo_wake(prefix, ARGV[1], "a")
redis.call("ZADD", KEYS[2], ARGV[4], ARGV[1])
lim_nudge(KEYS[10], KEYS[11])  -- a slot freed: wake a worker a queue limit held back
for k = 3, 6 do
  redis.pcall("INCR", KEYS[k])
end
redis.call("EXPIRE", KEYS[4], ARGV[7])
redis.call("EXPIRE", KEYS[6], ARGV[7])
local old = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", "(" .. ARGV[6], "LIMIT", 0, 100)
for _, id in ipairs(old) do
  redis.call("DEL", prefix .. id)
  redis.call("ZREM", KEYS[2], id)
end
local extra = redis.call("ZCARD", KEYS[2]) - tonumber(ARGV[5])
if extra > 0 then
  local oldest = redis.call("ZRANGE", KEYS[2], 0, extra - 1)
  for _, id in ipairs(oldest) do
    redis.call("DEL", prefix .. id)
  end
  redis.call("ZREMRANGEBYRANK", KEYS[2], 0, extra - 1)
end
return 1
