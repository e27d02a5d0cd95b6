-- enqueue: add tasks to one queue (pending now, or scheduled for later), atomically per task.
-- KEYS[1] -> P:{q}:pending     (list)
-- KEYS[2] -> P:{q}:scheduled   (zset)
-- KEYS[3] -> P:{q}:notify      (list of wake-up tokens)
-- ARGV[1] -> task key prefix P:{q}:t:
-- ARGV[2] -> now (epoch seconds)
-- then 7 values per task:
--   id, msg (JSON), process_at (epoch s, 0 = now), unique key ("" = none),
--   unique TTL (ms), dedupe key ("" = none), dedupe TTL (ms)
-- Returns one code per task: 1 enqueued, 0 task id exists, -1 unique lock held,
--   -2 dedupe key already set (this scheduler tick was enqueued before).
local prefix = ARGV[1]
local now = tonumber(ARGV[2])
local out = {}
local wake = false
for b = 3, #ARGV, 7 do
  local id = ARGV[b]
  local tkey = prefix .. id
  local at = tonumber(ARGV[b + 2])
  local ukey = ARGV[b + 3]
  local dkey = ARGV[b + 5]
  local code = 1
  if redis.call("EXISTS", tkey) == 1 then
    code = 0
  elseif dkey ~= "" and not redis.call("SET", dkey, id, "NX", "PX", ARGV[b + 6]) then
    code = -2
  elseif ukey ~= "" and not redis.call("SET", ukey, id, "NX", "PX", ARGV[b + 4]) then
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
  out[#out + 1] = code
end
if wake and redis.call("LLEN", KEYS[3]) == 0 then
  redis.call("RPUSH", KEYS[3], "1")
end
return out
