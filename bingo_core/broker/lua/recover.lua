-- recover: tasks whose lease expired (their worker died) go back to the head of the
-- queue, counting one retry, or to the archive when their retries are used up.
-- Also deletes completed tasks whose retention has run out.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:pending
-- KEYS[3] -> P:{q}:archived
-- KEYS[4] -> P:{q}:notify
-- KEYS[5] -> P:{q}:completed
-- ARGV[1] -> task key prefix P:{q}:t:
-- ARGV[2] -> now (epoch seconds)
-- ARGV[3] -> the most tasks to handle in one call
-- ARGV[4] -> error text recorded on recovered tasks
-- Returns {requeued, archived, completed tasks deleted}.
local prefix = ARGV[1]
local requeued, archived = 0, 0
local expired = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[2], "LIMIT", 0, ARGV[3])
for _, id in ipairs(expired) do
  local tkey = prefix .. id
  redis.call("ZREM", KEYS[1], id)
  local msg = redis.call("HGET", tkey, "msg")
  if msg then
    local ok, decoded = pcall(cjson.decode, msg)
    local max_retry = 0
    if ok and type(decoded) == "table" and tonumber(decoded["retry"]) then
      max_retry = tonumber(decoded["retry"])
    end
    local retried = tonumber(redis.call("HGET", tkey, "retried") or "0")
    redis.call("HDEL", tkey, "worker")
    if retried >= max_retry then
      redis.call("HSET", tkey, "state", "archived", "error", ARGV[4], "failed_at", ARGV[2])
      redis.call("ZADD", KEYS[3], ARGV[2], id)
      archived = archived + 1
    else
      redis.call("HINCRBY", tkey, "retried", 1)
      redis.call("HSET", tkey, "state", "pending", "error", ARGV[4], "failed_at", ARGV[2])
      redis.call("RPUSH", KEYS[2], id)
      requeued = requeued + 1
    end
  end
end
if requeued > 0 and redis.call("LLEN", KEYS[4]) == 0 then
  redis.call("RPUSH", KEYS[4], "1")
end
local gone = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", ARGV[2], "LIMIT", 0, 1000)
for _, id in ipairs(gone) do
  redis.call("DEL", prefix .. id)
end
if #gone > 0 then
  redis.call("ZREM", KEYS[5], unpack(gone))
end
return {requeued, archived, #gone}
