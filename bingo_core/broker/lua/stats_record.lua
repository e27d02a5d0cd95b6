-- stats_record: add a batch of per task type figures to a queue's statistics.
-- KEYS[1] -> P:{q}:stats:<date>  (hash; expires after ARGV[1] seconds)
-- KEYS[2] -> P:{q}:stats:total   (hash)
-- ARGV[1] -> TTL of the daily hash (seconds)
-- ARGV[2] -> B, the number of duration buckets
-- then per task type: type, processed, failed, duration sum (s), duration max (s),
--   last error ("" when none failed), when it failed (epoch s), then B bucket counts
-- Fields per type T: "T|p" processed, "T|f" failed, "T|s" duration sum, "T|m" duration
--   max, "T|b<i>" attempts whose duration fell in bucket i, "T|e" the last error and
--   "T|et" when it failed (kept when it is newer than the one held).
-- Returns the number of task types recorded.
local nb = tonumber(ARGV[2])
local n = 0
local step = 7 + nb
for b = 3, #ARGV, step do
  local t = ARGV[b]
  local err = ARGV[b + 5]
  for k = 1, 2 do
    local key = KEYS[k]
    redis.call("HINCRBY", key, t .. "|p", ARGV[b + 1])
    if ARGV[b + 2] ~= "0" then
      redis.call("HINCRBY", key, t .. "|f", ARGV[b + 2])
    end
    redis.call("HINCRBYFLOAT", key, t .. "|s", ARGV[b + 3])
    local old = tonumber(redis.call("HGET", key, t .. "|m") or "0")
    if tonumber(ARGV[b + 4]) > old then
      redis.call("HSET", key, t .. "|m", ARGV[b + 4])
    end
    if err ~= "" then
      local last = tonumber(redis.call("HGET", key, t .. "|et") or "0") or 0
      if tonumber(ARGV[b + 6]) >= last then
        redis.call("HSET", key, t .. "|e", err, t .. "|et", ARGV[b + 6])
      end
    end
    for i = 1, nb do
      local c = ARGV[b + 6 + i]
      if c ~= "0" then
        redis.call("HINCRBY", key, t .. "|b" .. (i - 1), c)
      end
    end
  end
  n = n + 1
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
return n
