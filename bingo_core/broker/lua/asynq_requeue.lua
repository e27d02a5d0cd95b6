-- asynq_requeue: Asynq's shutdown requeue of tasks still running.
-- KEYS[1] -> asynq:{q}:active   (list)
-- KEYS[2] -> asynq:{q}:lease    (zset)
-- KEYS[3] -> asynq:{q}:pending  (list)
-- KEYS[4] -> asynq:{q}:t:       (task key prefix)
-- ARGV[1..] -> ids
-- As Go: an id in active and then in lease goes to the head of pending (RPUSH) with
--   state=pending; no pending_since, no counter, the message unchanged.
-- Returns how many were requeued.
local n = 0
for _, id in ipairs(ARGV) do
  if redis.call("LREM", KEYS[1], -1, id) > 0 and redis.call("ZREM", KEYS[2], id) > 0 then
    redis.call("RPUSH", KEYS[3], id)
    redis.call("HSET", KEYS[4] .. id, "state", "pending")
    n = n + 1
  end
end
return n
