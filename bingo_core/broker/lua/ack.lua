-- ack: mark leased tasks done (delete, or keep as completed for their retention).
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:completed   (zset id -> expiry)
-- KEYS[3] -> P:{q}:processed
-- KEYS[4] -> P:{q}:processed:<date>
-- ARGV[1] -> task key prefix P:{q}:t:
-- ARGV[2] -> now (epoch seconds)
-- ARGV[3] -> worker id (only tasks this worker still holds are acked)
-- ARGV[4] -> TTL of the daily counter (seconds)
-- ARGV[5] -> K, how many plain ids follow (tasks with no retention and no unique lock)
-- then K ids, then 3 values per other task: id, retention seconds, unique key ("" = none)
-- Returns the ids this worker no longer held (its lease had expired and been recovered).
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local lost = {}
local done = 0
local plain = tonumber(ARGV[5])
for b = 6, 5 + plain do
  local id = ARGV[b]
  local tkey = prefix .. id
  if redis.call("HGET", tkey, "worker") == ARGV[3] then
    redis.call("ZREM", KEYS[1], id)
    redis.call("DEL", tkey)
    done = done + 1
  else
    lost[#lost + 1] = id
  end
end
for b = 6 + plain, #ARGV, 3 do
  local id = ARGV[b]
  local tkey = prefix .. id
  if redis.call("HGET", tkey, "worker") == ARGV[3] then
    redis.call("ZREM", KEYS[1], id)
    local keep = tonumber(ARGV[b + 1])
    if keep > 0 then
      redis.call("HSET", tkey, "state", "completed", "completed_at", ARGV[2])
      redis.call("HDEL", tkey, "worker")
      redis.call("ZADD", KEYS[2], now + keep, id)
    else
      redis.call("DEL", tkey)
    end
    local ukey = ARGV[b + 2]
    if ukey ~= "" and redis.call("GET", ukey) == id then
      redis.call("DEL", ukey)
    end
    done = done + 1
  else
    lost[#lost + 1] = id
  end
end
if done > 0 then
  redis.call("INCRBY", KEYS[3], done)
  redis.call("INCRBY", KEYS[4], done)
  redis.call("EXPIRE", KEYS[4], ARGV[4])
end
return lost
