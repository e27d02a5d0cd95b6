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
-- A scheduler key of the wrong type (or an epoch that is not an integer) is renamed to
-- P:{scheduler}:malformed:<name>[:<n>] (kept), then the call fails naming it; the next
-- call starts afresh. (All of the scheduler's state is rebuilt by its leader.)
-- (heal() is defined in _scheduler_heal.lua, put before this script when it is loaded.)
local checks = {{KEYS[1], "string"}, {KEYS[2], "string", true}, {KEYS[3], "hash"}}
for i = 4, #KEYS, 2 do
  checks[#checks + 1] = {KEYS[i], "hash"}
  checks[#checks + 1] = {KEYS[i + 1], "list"}
end
local healed = heal(checks)
if healed then
  return healed
end
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
    -- a "missed" field that is not an integer starts again from this count
    if type(redis.pcall("HINCRBY", KEYS[k], "missed", ARGV[b + 2])) == "table" then
      redis.call("HSET", KEYS[k], "missed", ARGV[b + 2])
    end
  end
  if ARGV[b + 6] ~= "" and redis.call("LPUSH", KEYS[k + 1], ARGV[b + 6]) > size then
    redis.call("LTRIM", KEYS[k + 1], 0, size - 1)
  end
  k = k + 2
end
return 1
