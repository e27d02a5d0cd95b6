-- requeue: put leased tasks back at the head of their queue (graceful shutdown).
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:pending
-- KEYS[3] -> P:{q}:notify
-- KEYS[4] -> P:{q}:t:          (task key prefix: the task hash is KEYS[4] .. id)
-- KEYS[5] -> P:{q}:limit:      (limit key prefix, see _limits.lua)
-- KEYS[6] -> P:{q}:throttled
-- ARGV[1] -> worker id
-- ARGV[2..] -> ids
-- A limited task's concurrency slot is freed (the next held task of its subject goes to
--   the head of pending too).
-- Returns how many tasks were requeued (an id whose task key no longer holds a hash is
--   left leased: the recoverer archives it when the lease ends).
-- Fails before any write, naming the key, when KEYS[1], 2 or 3 holds the wrong type.
for _, e in ipairs({{1, "zset"}, {2, "list"}, {3, "list"}}) do
  local kind = redis.call("TYPE", KEYS[e[1]])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply("WRONGTYPE key " .. KEYS[e[1]] .. " holds a " .. kind .. ", expected a " .. e[2])
  end
end
local n = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local tkey = KEYS[4] .. id
  local w = redis.pcall("HMGET", tkey, "worker", "lim")
  if w["err"] == nil and w[1] == ARGV[1] then
    redis.call("ZREM", KEYS[1], id)
    redis.call("HSET", tkey, "state", "pending")
    redis.call("HDEL", tkey, "worker")
    redis.call("RPUSH", KEYS[2], id)
    lim_release(KEYS[5], KEYS[6], KEYS[2], KEYS[3], id, w[2])
    n = n + 1
  end
end
if n > 0 and redis.call("LLEN", KEYS[3]) == 0 then
  redis.call("RPUSH", KEYS[3], "1")
end
return n
