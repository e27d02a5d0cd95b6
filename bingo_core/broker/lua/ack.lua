-- ack: mark leased tasks done (delete, or keep as completed with their result for their
-- retention) and release their unique locks.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:completed   (zset id -> expiry)
-- KEYS[3] -> P:{q}:processed
-- KEYS[4] -> P:{q}:processed:<date>
-- KEYS[5] -> P:{q}:t:          (task key prefix: the task hash is KEYS[5] .. id)
-- KEYS[6..] -> the unique locks P:{q}:unique:<digest> of the tasks below, by index
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> worker id (only tasks this worker still holds are acked)
-- ARGV[3] -> TTL of the daily counter (seconds)
-- ARGV[4] -> K, how many plain ids follow (tasks with no retention and no unique lock)
-- then K ids, then 4 values per other task: id, retention seconds, index of its unique
--   lock in KEYS (0 = none), result (JSON, "" = none)
-- Returns the ids this worker no longer held (its lease had expired and been recovered,
--   or the task key no longer holds a hash: the recoverer archives it when the lease ends).
-- Fails before any write, naming the key, when KEYS[1] or KEYS[2] holds the wrong type;
--   the counters and unique locks are best effort (a bad one is skipped).
for i = 1, 2 do
  local kind = redis.call("TYPE", KEYS[i])["ok"]
  if kind ~= "none" and kind ~= "zset" then
    return redis.error_reply("WRONGTYPE key " .. KEYS[i] .. " holds a " .. kind .. ", expected a zset")
  end
end
local prefix = KEYS[5]
local now = tonumber(ARGV[1])
local lost = {}
local done = 0
local plain = tonumber(ARGV[4])
local function held(tkey)
  local w = redis.pcall("HGET", tkey, "worker")
  return type(w) == "string" and w == ARGV[2]
end
for b = 5, 4 + plain do
  local id = ARGV[b]
  local tkey = prefix .. id
  if held(tkey) then
    redis.call("ZREM", KEYS[1], id)
    redis.call("DEL", tkey)
    done = done + 1
  else
    lost[#lost + 1] = id
  end
end
for b = 5 + plain, #ARGV, 4 do
  local id = ARGV[b]
  local tkey = prefix .. id
  if held(tkey) then
    redis.call("ZREM", KEYS[1], id)
    local keep = tonumber(ARGV[b + 1])
    if keep > 0 then
      redis.call("HSET", tkey, "state", "completed", "completed_at", ARGV[1])
      if ARGV[b + 3] ~= "" then
        redis.call("HSET", tkey, "result", ARGV[b + 3])
      end
      redis.call("ZADD", KEYS[2], now + keep, id)
    else
      redis.call("DEL", tkey)
    end
    local u = tonumber(ARGV[b + 2])
    if u > 0 and redis.pcall("GET", KEYS[u]) == id then
      redis.call("DEL", KEYS[u])
    end
    done = done + 1
  else
    lost[#lost + 1] = id
  end
end
if done > 0 then
  redis.pcall("INCRBY", KEYS[3], done)
  redis.pcall("INCRBY", KEYS[4], done)
  redis.call("EXPIRE", KEYS[4], ARGV[3])
end
return lost
