-- asynq_enqueue: add tasks to one queue in Asynq's layout, as the Go client does, one
-- task at a time (pending now, or scheduled for later).
-- KEYS[1] -> asynq:{q}:pending     (list)
-- KEYS[2] -> asynq:{q}:scheduled   (zset)
-- KEYS[3] -> asynq:{q}:t:          (task key prefix: the task hash is KEYS[3] .. id)
-- KEYS[4..] -> the unique locks asynq:{q}:unique:<type>:<md5> of the tasks below, each
--   referred to by its index in KEYS
-- ARGV[1] -> now, Unix ns (the pending tasks' pending_since)
-- then 5 values per task:
--   id, msg (TaskMessage bytes), process_at (Unix s, 0 = now), index of its unique lock
--   in KEYS (0 = none), unique TTL (whole seconds)
-- As Asynq: the unique lock is taken first (SET NX EX) and stays even when the id check
--   then refuses the task; a task hash of that id in any state refuses the task.
-- Fails before any write, with an error naming the key, when the pending list or the
--   scheduled zset holds the wrong type.
-- Returns one value per task: 1 enqueued, 0 task id in use, -1 unique lock held.
for _, e in ipairs({{1, "list"}, {2, "zset"}}) do
  local kind = redis.call("TYPE", KEYS[e[1]])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply(
      "WRONGTYPE key " .. KEYS[e[1]] .. " holds a " .. kind .. ", expected a " .. e[2]
    )
  end
end
local prefix = KEYS[3]
local out = {}
for b = 2, #ARGV, 5 do
  local id = ARGV[b]
  local tkey = prefix .. id
  local at = tonumber(ARGV[b + 2])
  local u = tonumber(ARGV[b + 3])
  local code = 1
  if u > 0 and not redis.call("SET", KEYS[u], id, "NX", "EX", ARGV[b + 4]) then
    code = -1
  elseif redis.call("EXISTS", tkey) == 1 then
    code = 0
  else
    if at > 0 then
      redis.call("HSET", tkey, "msg", ARGV[b + 1], "state", "scheduled")
      redis.call("ZADD", KEYS[2], at, id)
    else
      redis.call("HSET", tkey, "msg", ARGV[b + 1], "state", "pending", "pending_since", ARGV[1])
      redis.call("LPUSH", KEYS[1], id)
    end
    if u > 0 then
      redis.call("HSET", tkey, "unique_key", KEYS[u])
    end
  end
  out[#out + 1] = code
end
return out
