-- asynq_fail: Asynq's retry or archive of one task that failed (or whose lease expired).
-- KEYS[1] -> asynq:{q}:active     (list)
-- KEYS[2] -> asynq:{q}:lease      (zset)
-- KEYS[3] -> asynq:{q}:retry or asynq:{q}:archived (zset)
-- KEYS[4] -> asynq:{q}:processed
-- KEYS[5] -> asynq:{q}:processed:<UTC date>
-- KEYS[6] -> asynq:{q}:failed
-- KEYS[7] -> asynq:{q}:failed:<UTC date>
-- KEYS[8] -> asynq:{q}:t:         (task key prefix)
-- ARGV[1] -> id
-- ARGV[2] -> the rewritten msg ("" = keep the stored one: it did not decode)
-- ARGV[3] -> score in KEYS[3], Unix s (retry at, or now when archiving)
-- ARGV[4] -> state: "retry" or "archived"
-- ARGV[5] -> the daily counters' expiry, Unix s (set when they are created)
-- ARGV[6] -> 1 count it as a failure, 0 not (processed only)
-- ARGV[7] -> archive trim: entries scored at or below this are deleted with their hashes
-- ARGV[8] -> archive trim: at most this many entries are kept
-- As Go: the id must be in active (LREM) and then in lease (ZREM), else 0 (lost).
-- Returns 1 done, 0 lost.
local id = ARGV[1]
local tkey = KEYS[8] .. id
if redis.call("LREM", KEYS[1], -1, id) == 0 or redis.call("ZREM", KEYS[2], id) == 0 then
  return 0
end
redis.call("ZADD", KEYS[3], ARGV[3], id)
if ARGV[2] ~= "" then redis.call("HSET", tkey, "msg", ARGV[2]) end
redis.call("HSET", tkey, "state", ARGV[4])
local counters = {{4, 5}}
if ARGV[6] == "1" then counters[2] = {6, 7} end
for _, c in ipairs(counters) do
  redis.call("INCR", KEYS[c[1]])
  if redis.call("INCR", KEYS[c[2]]) == 1 then redis.call("EXPIREAT", KEYS[c[2]], ARGV[5]) end
end
if ARGV[4] == "archived" then
  for _, old in ipairs(redis.call("ZRANGEBYSCORE", KEYS[3], "-inf", ARGV[7])) do
    redis.call("DEL", KEYS[8] .. old)
  end
  redis.call("ZREMRANGEBYSCORE", KEYS[3], "-inf", ARGV[7])
  local keep = tonumber(ARGV[8])
  for _, old in ipairs(redis.call("ZRANGE", KEYS[3], 0, -keep)) do
    redis.call("DEL", KEYS[8] .. old)
  end
  redis.call("ZREMRANGEBYRANK", KEYS[3], 0, -keep)
end
return 1
