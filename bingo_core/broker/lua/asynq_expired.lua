-- asynq_expired: what Asynq's recoverer and janitor find in one queue.
-- KEYS[1] -> asynq:{q}:lease      (zset)
-- KEYS[2] -> asynq:{q}:completed  (zset)
-- KEYS[3] -> asynq:{q}:t:         (task key prefix)
-- ARGV[1] -> lease cutoff, Unix s (now - 30: Go's skew margin)
-- ARGV[2] -> now, Unix s
-- ARGV[3] -> most ids to return
-- Deletes up to 100 completed tasks whose retention ran out (score <= now), with their
--   hashes. Lists the ids whose lease expired (score <= cutoff) and whose hash exists.
-- Returns {completed deleted, then per expired id: id, msg}.
local done = redis.call("ZRANGEBYSCORE", KEYS[2], "-inf", ARGV[2], "LIMIT", 0, 100)
for _, id in ipairs(done) do
  redis.call("DEL", KEYS[3] .. id)
  redis.call("ZREM", KEYS[2], id)
end
local out = {#done}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))) do
  local msg = false
  if redis.call("TYPE", KEYS[3] .. id)["ok"] == "hash" then
    msg = redis.call("HGET", KEYS[3] .. id, "msg")
  end
  if msg then
    out[#out + 1] = id
    out[#out + 1] = msg
  end
end
return out
