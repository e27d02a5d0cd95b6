-- recover: tasks whose lease expired (their worker died) go back to the head of the
-- queue, counting one retry, or to the archive when their retries are used up.
-- Also deletes completed tasks whose retention has run out.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:pending
-- KEYS[3] -> P:{q}:archived
-- KEYS[4] -> P:{q}:notify
-- KEYS[5] -> P:{q}:completed
-- KEYS[6] -> P:{q}:t:          (task key prefix: a task hash is KEYS[6] .. id)
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> the most tasks to handle in one call
-- ARGV[3] -> error text recorded on recovered tasks
-- Returns {requeued, archived, completed tasks deleted}.
local prefix = KEYS[6]
local requeued, archived = 0, 0
local expired = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, ARGV[2])
for _, id in ipairs(expired) do
  local tkey = prefix .. id
  redis.call("ZREM", KEYS[1], id)
  local msg = redis.call("HGET", tkey, "msg")
  if msg then
    local ok, decoded = pcall(cjson.decode, msg)
    local max_retry = 0
    if ok and type(decoded) == "table" and tonumber(decoded["max_retry"]) then
      max_retry = tonumber(decoded["max_retry"])
    end
    local retried = tonumber(redis.call("HGET", tkey, "retried") or "0")
    redis.call("HDEL", tkey, "worker")
    if retried >= max_retry then
      redis.call("HSET", tkey, "state", "archived", "error", ARGV[3], "failed_at", ARGV[1])
      redis.call("ZADD", KEYS[3], ARGV[1], id)
      archived = archived + 1
    else
      redis.call("HINCRBY", tkey, "retried", 1)
      redis.call("HSET", tkey, "state", "pending", "error", ARGV[3], "failed_at", ARGV[1])
      redis.call("RPUSH", KEYS[2], id)
      requeued = requeued + 1
    end
  end
end
if requeued > 0 and redis.call("LLEN", KEYS[4]) == 0 then
  redis.call("RPUSH", KEYS[4], "1")
end
local gone = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", ARGV[1], "LIMIT", 0, 1000)
for _, id in ipairs(gone) do
  redis.call("DEL", prefix .. id)
end
if #gone > 0 then
  redis.call("ZREM", KEYS[5], unpack(gone))
end
return {requeued, archived, #gone}
