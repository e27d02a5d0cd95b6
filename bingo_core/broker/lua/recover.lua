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
-- Returns {requeued, archived, completed tasks deleted, malformed, missing}: malformed
--   counts expired ids whose task key held no hash (its value renamed to
--   P:{q}:malformed:<id>, kept, and the id archived with the reason) or a hash with no
--   msg (archived); missing counts expired ids with no task key at all (dropped).
-- Fails before any write, naming the key, when KEYS[1] to KEYS[5] holds the wrong type.
for _, e in ipairs({{1, "zset"}, {2, "list"}, {3, "zset"}, {4, "list"}, {5, "zset"}}) do
  local kind = redis.call("TYPE", KEYS[e[1]])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply("WRONGTYPE key " .. KEYS[e[1]] .. " holds a " .. kind .. ", expected a " .. e[2])
  end
end
local prefix = KEYS[6]
local now = ARGV[1]
local requeued, archived, malformed, missing = 0, 0, 0, 0
local expired = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, ARGV[2])
for _, id in ipairs(expired) do
  local tkey = prefix .. id
  redis.call("ZREM", KEYS[1], id)
  local kind = redis.call("TYPE", tkey)["ok"]
  local msg = kind == "hash" and redis.call("HGET", tkey, "msg")
  if msg then
    local ok, decoded = pcall(cjson.decode, msg)
    local max_retry = 0
    if ok and type(decoded) == "table" and tonumber(decoded["max_retry"]) then
      max_retry = tonumber(decoded["max_retry"])
    end
    local retried = math.max(0, math.floor(tonumber(redis.call("HGET", tkey, "retried")) or 0))
    redis.call("HDEL", tkey, "worker")
    if retried >= max_retry then
      redis.call("HSET", tkey, "state", "archived", "error", ARGV[3], "failed_at", now)
      redis.call("ZADD", KEYS[3], now, id)
      bingo_wake(prefix, id, "a")
      archived = archived + 1
    else
      redis.call("HSET", tkey, "retried", retried + 1, "state", "pending", "error", ARGV[3],
        "failed_at", now)
      redis.call("RPUSH", KEYS[2], id)
      requeued = requeued + 1
    end
  elseif kind == "none" then
    missing = missing + 1
  else
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
    redis.call("ZADD", KEYS[3], now, id)
    malformed = malformed + 1
  end
end
if requeued > 0 and redis.call("LLEN", KEYS[4]) == 0 then
  redis.call("RPUSH", KEYS[4], "1")
end
local gone = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", now, "LIMIT", 0, 1000)
for _, id in ipairs(gone) do
  redis.call("DEL", prefix .. id)
end
if #gone > 0 then
  redis.call("ZREM", KEYS[5], unpack(gone))
end
return {requeued, archived, #gone, malformed, missing}
