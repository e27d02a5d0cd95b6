-- asynq_ack: Asynq's done and complete for tasks of one queue that succeeded.
-- KEYS[1] -> asynq:{q}:active     (list)
-- KEYS[2] -> asynq:{q}:lease      (zset)
-- KEYS[3] -> asynq:{q}:completed  (zset)
-- KEYS[4] -> asynq:{q}:processed
-- KEYS[5] -> asynq:{q}:processed:<UTC date>
-- KEYS[6] -> asynq:{q}:t:         (task key prefix)
-- KEYS[7..] -> the unique locks of the tasks below, each referred to by its index in KEYS
-- ARGV[1] -> now, Unix s
-- ARGV[2] -> the daily counter's expiry, Unix s (set when it is created)
-- then 5 values per task: id, retention (s; 0 = delete the task), the rewritten msg
--   (completed_at set; "" when retention is 0), result ("" = none), unique lock index (0)
-- As Go: each id must be in active (LREM) and then in lease (ZREM), else it is lost
--   (another process recovered it) and nothing more is written for it. A kept task goes
--   to completed (score now + retention) with state=completed; a unique lock whose value
--   is the id is deleted; the processed counters count each task.
-- Returns the ids that were lost.
local now = tonumber(ARGV[1])
local lost = {}
local done = 0
for b = 3, #ARGV, 5 do
  local id = ARGV[b]
  local tkey = KEYS[6] .. id
  if redis.call("LREM", KEYS[1], -1, id) == 0 or redis.call("ZREM", KEYS[2], id) == 0 then
    lost[#lost + 1] = id
  else
    local retention = tonumber(ARGV[b + 1])
    if retention > 0 then
      redis.call("ZADD", KEYS[3], now + retention, id)
      redis.call("HSET", tkey, "msg", ARGV[b + 2], "state", "completed")
      if ARGV[b + 3] ~= "" then redis.call("HSET", tkey, "result", ARGV[b + 3]) end
    else
      redis.call("DEL", tkey)
    end
    local u = tonumber(ARGV[b + 4])
    if u > 0 and redis.call("GET", KEYS[u]) == id then redis.call("DEL", KEYS[u]) end
    done = done + 1
  end
end
if done > 0 then
  redis.call("INCRBY", KEYS[4], done)
  if redis.call("INCRBY", KEYS[5], done) == done then redis.call("EXPIREAT", KEYS[5], ARGV[2]) end
end
return lost
