-- asynq_fetch: Asynq's forwarder and dequeue for one queue in Asynq's layout.
-- KEYS[1] -> asynq:{q}:pending    (list)
-- KEYS[2] -> asynq:{q}:active     (list)
-- KEYS[3] -> asynq:{q}:lease      (zset)
-- KEYS[4] -> asynq:{q}:paused     (string)
-- KEYS[5] -> asynq:{q}:scheduled  (zset)
-- KEYS[6] -> asynq:{q}:retry      (zset)
-- KEYS[7] -> asynq:{q}:archived   (zset)
-- KEYS[8] -> asynq:{q}:t:         (task key prefix; asynq:{q}: is its base, for groups)
-- ARGV[1] -> now, Unix s
-- ARGV[2] -> now, Unix ns (the forwarded tasks' pending_since)
-- ARGV[3] -> how many tasks to lease at most
-- ARGV[4] -> lease expiry, Unix s
-- First forwards due scheduled and retry tasks to pending (LPUSH, state=pending,
--   pending_since; a task with a group goes to its group), even when the queue is
--   paused, as Go's forwarder does. Then, unless paused, leases like Go's dequeue:
--   RPOPLPUSH pending -> active, state=active, pending_since deleted, lease = ARGV[4].
-- A pending id with no task key is dropped from active; one whose key is not a hash, or
--   whose hash has no msg, is archived (kept, visible) without running.
-- Fails before any write, naming the key, when a queue key holds the wrong type.
-- Returns {next due (Unix s, "" = none), paused (0/1), then per id: id, msg or reason,
--   1 leased / -1 not leased}.
for _, e in ipairs({{1, "list"}, {2, "list"}, {3, "zset"}, {5, "zset"}, {6, "zset"}, {7, "zset"}}) do
  local kind = redis.call("TYPE", KEYS[e[1]])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply("WRONGTYPE key " .. KEYS[e[1]] .. " holds a " .. kind .. ", expected a " .. e[2])
  end
end
local prefix = KEYS[8]
local base = string.sub(prefix, 1, -3)
local now = tonumber(ARGV[1])
for _, src in ipairs({KEYS[5], KEYS[6]}) do
  for _ = 1, 10 do
    local ids = redis.call("ZRANGEBYSCORE", src, "-inf", now, "LIMIT", 0, 100)
    for _, id in ipairs(ids) do
      redis.call("ZREM", src, id)
      local group = redis.call("HGET", prefix .. id, "group")
      if group then
        redis.call("ZADD", base .. "g:" .. group, now, id)
        redis.call("SADD", base .. "groups", group)
        redis.call("HSET", prefix .. id, "state", "aggregating")
      else
        redis.call("LPUSH", KEYS[1], id)
        redis.call("HSET", prefix .. id, "state", "pending", "pending_since", ARGV[2])
      end
    end
    if #ids < 100 then break end
  end
end
local due = ""
for _, src in ipairs({KEYS[5], KEYS[6]}) do
  local head = redis.call("ZRANGE", src, 0, 0, "WITHSCORES")
  if head[2] and (due == "" or tonumber(head[2]) < tonumber(due)) then due = head[2] end
end
if redis.call("EXISTS", KEYS[4]) == 1 then
  return {due, 1}
end
local out = {due, 0}
for _ = 1, tonumber(ARGV[3]) do
  local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[2])
  if not id then break end
  local tkey = prefix .. id
  local msg = redis.pcall("HGET", tkey, "msg")
  local kind = "hash"
  if type(msg) == "table" and msg.err then
    kind = redis.call("TYPE", tkey)["ok"]
    msg = false
  elseif not msg and redis.call("EXISTS", tkey) == 0 then
    kind = "none"
  end
  if msg then
    redis.call("HSET", tkey, "state", "active")
    redis.call("HDEL", tkey, "pending_since")
    redis.call("ZADD", KEYS[3], ARGV[4], id)
    out[#out + 1] = id
    out[#out + 1] = msg
    out[#out + 1] = 1
  else
    redis.call("LREM", KEYS[2], 1, id)
    local why = "no task record"
    if kind == "hash" then
      why = "its task hash " .. tkey .. " has no msg"
      redis.call("HSET", tkey, "state", "archived")
      redis.call("ZADD", KEYS[7], now, id)
    elseif kind ~= "none" then
      why = "its task key " .. tkey .. " holds a " .. kind .. ", not a hash"
      redis.call("ZADD", KEYS[7], now, id)
    end
    out[#out + 1] = id
    out[#out + 1] = why
    out[#out + 1] = -1
  end
end
return out
