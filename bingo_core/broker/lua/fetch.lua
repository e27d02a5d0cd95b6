-- fetch: move due scheduled/retry tasks to pending, then lease up to N pending tasks.
-- KEYS[1] -> P:{q}:pending     (list; RPOP takes the head)
-- KEYS[2] -> P:{q}:lease       (zset id -> lease expiry; the active set)
-- KEYS[3] -> P:{q}:paused
-- KEYS[4] -> P:{q}:scheduled   (zset)
-- KEYS[5] -> P:{q}:retry       (zset)
-- KEYS[6] -> P:{q}:notify      (list)
-- KEYS[7] -> P:{q}:t:          (task key prefix: a task hash is KEYS[7] .. id)
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> N, the most tasks to lease
-- ARGV[3] -> lease expiry (epoch seconds)
-- ARGV[4] -> worker id
-- Returns {next_due, id1, msg1, retried1, id2, ...}; next_due is the earliest scheduled or
-- retry time left ("" when none), or "paused" when the queue is paused.
if redis.call("EXISTS", KEYS[3]) == 1 then
  return {"paused"}
end
local prefix = KEYS[7]
local now = ARGV[1]
for z = 4, 5 do
  local due = redis.call("ZRANGEBYSCORE", KEYS[z], "-inf", now, "LIMIT", 0, 500)
  if #due > 0 then
    for _, id in ipairs(due) do
      redis.call("LPUSH", KEYS[1], id)
      redis.call("HSET", prefix .. id, "state", "pending")
    end
    redis.call("ZREM", KEYS[z], unpack(due))
  end
end
local out = {""}
local n = tonumber(ARGV[2])
for _ = 1, n do
  local id = redis.call("RPOP", KEYS[1])
  if not id then
    break
  end
  local tkey = prefix .. id
  local v = redis.call("HMGET", tkey, "msg", "retried")
  if v[1] then
    redis.call("HSET", tkey, "state", "active", "worker", ARGV[4], "started_at", now)
    redis.call("ZADD", KEYS[2], ARGV[3], id)
    out[#out + 1] = id
    out[#out + 1] = v[1]
    out[#out + 1] = v[2] or "0"
  end
end
if redis.call("LLEN", KEYS[1]) > 0 and redis.call("LLEN", KEYS[6]) == 0 then
  redis.call("RPUSH", KEYS[6], "1")  -- more work: wake the next idle worker
end
local next_due = nil
for z = 4, 5 do
  local first = redis.call("ZRANGE", KEYS[z], 0, 0, "WITHSCORES")
  if first[2] and (next_due == nil or tonumber(first[2]) < next_due) then
    next_due = tonumber(first[2])
  end
end
if next_due then
  out[1] = tostring(next_due)
end
return out
