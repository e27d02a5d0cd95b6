-- fetch: move due scheduled/retry tasks to pending, then lease up to N pending tasks.
-- KEYS[1] -> P:{q}:pending     (list; RPOP takes the head)
-- KEYS[2] -> P:{q}:lease       (zset id -> lease expiry; the active set)
-- KEYS[3] -> P:{q}:paused
-- KEYS[4] -> P:{q}:scheduled   (zset)
-- KEYS[5] -> P:{q}:retry       (zset)
-- KEYS[6] -> P:{q}:notify      (list)
-- KEYS[7] -> P:{q}:t:          (task key prefix: a task hash is KEYS[7] .. id)
-- KEYS[8] -> P:{q}:archived    (zset; where a task whose record is unusable goes)
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> N, the most tasks to lease
-- ARGV[3] -> lease expiry (epoch seconds)
-- ARGV[4] -> worker id
-- Returns {next_due, then 3 values per id taken from pending}; next_due is the earliest
--   scheduled or retry time left ("" when none), or "paused" when the queue is paused.
--   A leased task gives: id, msg, retried (>= 0). An id that could not be leased gives:
--   id, reason, -1; its task key is missing (the id is dropped), holds no hash (its value
--   is renamed to P:{q}:malformed:<id>, kept, and the id archived with the reason), or is
--   a hash with no msg (archived with the reason).
-- Fails before any write, with an error naming the key, when KEYS[1], 2, 4, 5, 6 or 8
--   holds the wrong type (the caller reports it and skips this queue).
if redis.call("EXISTS", KEYS[3]) == 1 then
  return {"paused"}
end
local expected = {{1, "list"}, {2, "zset"}, {4, "zset"}, {5, "zset"}, {6, "list"}, {8, "zset"}}
for _, e in ipairs(expected) do
  local key = KEYS[e[1]]
  local kind = redis.call("TYPE", key)["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply(
      "WRONGTYPE key " .. key .. " holds a " .. kind .. ", expected a " .. e[2]
    )
  end
end
local prefix = KEYS[7]
local now = ARGV[1]
for z = 4, 5 do
  local due = redis.call("ZRANGEBYSCORE", KEYS[z], "-inf", now, "LIMIT", 0, 500)
  if #due > 0 then
    for _, id in ipairs(due) do
      redis.call("LPUSH", KEYS[1], id)
      -- a task key of the wrong type (or none) is dealt with when the id is popped
      if redis.call("TYPE", prefix .. id)["ok"] == "hash" then
        redis.call("HSET", prefix .. id, "state", "pending")
      end
    end
    redis.call("ZREM", KEYS[z], unpack(due))
  end
end

-- Archive an id whose task record is unusable; returns the reason.
local function archive_bad(id, tkey, kind)
  local reason
  if kind == "hash" then
    reason = "malformed: task hash " .. tkey .. " has no msg field"
  else
    local base = string.sub(prefix, 1, -3) .. "malformed:" .. id
    local aside, n = base, 0
    while redis.call("EXISTS", aside) == 1 do
      n = n + 1
      aside = base .. ":" .. n
    end
    redis.call("RENAME", tkey, aside)
    reason = "malformed: key " .. tkey .. " held a " .. kind
      .. ", not a task hash; its value was renamed to " .. aside
  end
  redis.call("HSET", tkey, "state", "archived", "error", reason, "failed_at", now)
  redis.call("ZADD", KEYS[8], now, id)
  return reason
end

local out = {""}
local n = tonumber(ARGV[2])
for _ = 1, n do
  local id = redis.call("RPOP", KEYS[1])
  if not id then
    break
  end
  local tkey = prefix .. id
  local v = redis.pcall("HMGET", tkey, "msg", "retried")
  if v["err"] == nil and v[1] then
    redis.call("HSET", tkey, "state", "active", "worker", ARGV[4], "started_at", now)
    redis.call("ZADD", KEYS[2], ARGV[3], id)
    out[#out + 1] = id
    out[#out + 1] = v[1]
    out[#out + 1] = math.max(0, math.floor(tonumber(v[2]) or 0))
  else
    local kind = redis.call("TYPE", tkey)["ok"]
    out[#out + 1] = id
    if kind == "none" then
      out[#out + 1] = "no task record: key " .. tkey .. " does not exist"
    else
      out[#out + 1] = archive_bad(id, tkey, kind)
    end
    out[#out + 1] = -1
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
