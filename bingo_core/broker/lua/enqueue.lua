-- enqueue: add tasks to one queue (pending now, or scheduled for later), atomically per task.
-- KEYS[1] -> P:{q}:pending     (list)
-- KEYS[2] -> P:{q}:scheduled   (zset)
-- KEYS[3] -> P:{q}:notify      (list of wake-up tokens)
-- KEYS[4] -> P:{q}:t:          (task key prefix: the task hash is KEYS[4] .. id)
-- KEYS[5..] -> the unique locks P:{q}:unique:<digest> and the scheduler tick dedupe keys
--   P:{q}:tick:<entry>:<ms> of the tasks below, each referred to by its index in KEYS
-- ARGV[1] -> now (epoch seconds)
-- then 8 values per task:
--   id, msg (JSON), process_at (epoch s, 0 = now), index of its unique lock in KEYS
--   (0 = none), unique TTL (ms), index of its dedupe key in KEYS (0 = none), dedupe TTL
--   (ms), lim (the task's limits, "" = none: kept in the hash's lim field for fetch.lua)
-- Fails before any write, with an error naming the key, when the pending list, the
--   scheduled zset or the wake-up list holds the wrong type.
-- Returns one value per task: 1 enqueued, 0 task id exists, -1 unique lock held, or, when
--   the dedupe key was already set (this scheduler tick was enqueued before), the id of
--   the task that holds it (a string).
for _, e in ipairs({{1, "list"}, {2, "zset"}, {3, "list"}}) do
  local kind = redis.call("TYPE", KEYS[e[1]])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply(
      "WRONGTYPE key " .. KEYS[e[1]] .. " holds a " .. kind .. ", expected a " .. e[2]
    )
  end
end
local prefix = KEYS[4]
local now = tonumber(ARGV[1])
local out = {}
local wake = false
for b = 2, #ARGV, 8 do
  local id = ARGV[b]
  local tkey = prefix .. id
  local at = tonumber(ARGV[b + 2])
  local u = tonumber(ARGV[b + 3])
  local d = tonumber(ARGV[b + 5])
  local code = 1
  if redis.call("EXISTS", tkey) == 1 then
    code = 0
  elseif d > 0 and not redis.call("SET", KEYS[d], id, "NX", "PX", ARGV[b + 6]) then
    code = redis.call("GET", KEYS[d]) or ""
  elseif u > 0 and not redis.call("SET", KEYS[u], id, "NX", "PX", ARGV[b + 4]) then
    code = -1
  elseif at > now then
    redis.call("HSET", tkey, "msg", ARGV[b + 1], "state", "scheduled", "process_at", at)
    redis.call("ZADD", KEYS[2], at, id)
    wake = true
  else
    redis.call("HSET", tkey, "msg", ARGV[b + 1], "state", "pending")
    redis.call("LPUSH", KEYS[1], id)
    wake = true
  end
  if code == 1 and ARGV[b + 7] ~= "" then
    redis.call("HSET", tkey, "lim", ARGV[b + 7])
  end
  out[#out + 1] = code
end
if wake and redis.call("LLEN", KEYS[3]) == 0 then
  redis.call("RPUSH", KEYS[3], "1")
end
return out
