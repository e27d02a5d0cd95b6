-- retry: a leased task failed; schedule its next attempt.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:retry       (zset id -> retry at)
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
-- ARGV[2] -> worker id
-- ARGV[3] -> retry at (epoch seconds)
-- ARGV[4] -> error text
-- ARGV[5] -> now (epoch seconds)
-- ARGV[6] -> TTL of the daily counters (seconds)
-- Frees a limited task's concurrency slot (the next held task of its subject goes to the
--   head of pending).
-- Returns 1, or 0 when this worker no longer held the task.
-- Fails before any write, naming the key, when KEYS[1], KEYS[2] or the task key holds the
--   wrong type (the task stays leased; the recoverer deals with it when the lease ends).
--   The counters are best effort.
local tkey = KEYS[7] .. ARGV[1]
for _, e in ipairs({{KEYS[1], "zset"}, {KEYS[2], "zset"}, {tkey, "hash"}}) do
  local kind = redis.call("TYPE", e[1])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply("WRONGTYPE key " .. e[1] .. " holds a " .. kind .. ", expected a " .. e[2])
  end
end
if redis.call("HGET", tkey, "worker") ~= ARGV[2] then
  return 0
end
local retried = math.max(0, math.floor(tonumber(redis.call("HGET", tkey, "retried")) or 0))
redis.call("ZREM", KEYS[1], ARGV[1])
redis.call("HSET", tkey, "retried", retried + 1, "state", "retry", "error", ARGV[4],
  "failed_at", ARGV[5])
redis.call("HDEL", tkey, "worker")
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[1])
lim_release(KEYS[8], KEYS[9], KEYS[10], KEYS[11], ARGV[1], redis.call("HGET", tkey, "lim"))
lim_nudge(KEYS[10], KEYS[11])  -- a slot freed: wake a worker a queue limit held back
for k = 3, 6 do
  redis.pcall("INCR", KEYS[k])
end
redis.call("EXPIRE", KEYS[4], ARGV[6])
redis.call("EXPIRE", KEYS[6], ARGV[6])
return 1
