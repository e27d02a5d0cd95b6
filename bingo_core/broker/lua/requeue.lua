-- requeue: put leased tasks back at the head of their queue (graceful shutdown).
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:pending
-- KEYS[3] -> P:{q}:notify
-- KEYS[4] -> P:{q}:t:          (task key prefix: the task hash is KEYS[4] .. id)
-- ARGV[1] -> worker id
-- ARGV[2..] -> ids
-- Returns how many tasks were requeued.
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local tkey = KEYS[4] .. id
  if redis.call("HGET", tkey, "worker") == ARGV[1] then
    redis.call("ZREM", KEYS[1], id)
    redis.call("HSET", tkey, "state", "pending")
    redis.call("HDEL", tkey, "worker")
    redis.call("RPUSH", KEYS[2], id)
    n = n + 1
  end
end
if n > 0 and redis.call("LLEN", KEYS[3]) == 0 then
  redis.call("RPUSH", KEYS[3], "1")
end
return n
