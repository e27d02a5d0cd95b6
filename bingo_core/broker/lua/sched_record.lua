-- sched_record: the leader records what it did with due ticks: each entry's cursor (the
-- last tick handled, fired or skipped), next fire, last fire, missed count and a capped
-- enqueue history. Fenced: nothing is written unless this daemon still holds the lease.
-- KEYS[1] -> P:{scheduler}:leader   (string: the leader's daemon id)
-- KEYS[2] -> P:{scheduler}:epoch    (string: the current fencing token)
-- KEYS[3] -> P:{scheduler}:cursors  (hash: entry key -> last tick handled)
-- then 2 keys per record: P:{scheduler}:entry:<key> (hash), P:{scheduler}:history:<key> (list)
-- ARGV[1] -> daemon id
-- ARGV[2] -> fencing token
-- ARGV[3] -> history size (items kept per list)
-- then 8 values per record ("" = leave as is):
--   entry key, cursor (epoch s), next fire (epoch s), missed ticks to add, last fired tick,
--   last task id, last enqueued at (epoch s), history item (JSON)
-- Returns 1 when recorded, 0 when the lease is not held.
if redis.call("GET", KEYS[1]) ~= ARGV[1] or redis.call("GET", KEYS[2]) ~= ARGV[2] then
  return 0
end
local size = tonumber(ARGV[3])
local k = 4
for a = 4, #ARGV, 8 do
  local b = a + 1
  local fields = {}
  if ARGV[b] ~= "" then
    redis.call("HSET", KEYS[3], ARGV[a], ARGV[b])
  end
  if ARGV[b + 1] ~= "" then
    fields[#fields + 1] = "next"
    fields[#fields + 1] = ARGV[b + 1]
  end
  if ARGV[b + 3] ~= "" then
    fields[#fields + 1] = "last_tick"
    fields[#fields + 1] = ARGV[b + 3]
    fields[#fields + 1] = "last_task"
    fields[#fields + 1] = ARGV[b + 4]
    fields[#fields + 1] = "last_at"
    fields[#fields + 1] = ARGV[b + 5]
  end
  if #fields > 0 then
    redis.call("HSET", KEYS[k], unpack(fields))
  end
  if ARGV[b + 2] ~= "" then
    redis.call("HINCRBY", KEYS[k], "missed", ARGV[b + 2])
  end
  if ARGV[b + 6] ~= "" and redis.call("LPUSH", KEYS[k + 1], ARGV[b + 6]) > size then
    redis.call("LTRIM", KEYS[k + 1], 0, size - 1)
  end
  k = k + 2
end
return 1
