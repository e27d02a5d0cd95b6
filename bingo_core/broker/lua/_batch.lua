-- Batches (put before batch_add.lua and fetch.lua). A batch group (a task type and the
-- value of its key field) holds its items in P:{q}:batch:i:<group> (list, oldest first;
-- each item is "<enqueued at> <payload JSON>") and its rule in P:{q}:batch:m:<group>
-- (hash: type, key, size, wait, grace, last = the newest item's time, tail = the batch
-- task's message after its payload: type and options). P:{q}:batches (zset group -> when
-- it is due) is what fetch.lua looks at; P:{q}:batch:seq numbers the batch tasks.

-- Whether group's keys are usable: its list a list and its rule a hash with a tail. A
-- group whose keys hold the wrong type (not Bingo's) is never cut or written: its items
-- wait there, the rest of the queue goes on.
local function bingo_batch_usable(bp, group)
  local l = redis.call("TYPE", bp .. "i:" .. group)["ok"]
  local m = redis.call("TYPE", bp .. "m:" .. group)["ok"]
  return (l == "list" or l == "none") and (m == "hash" or m == "none")
end

-- Cut one batch of group: up to `size` items leave the held list and become one pending
-- task, in this call (so each item is in exactly one batch). Returns its id, or nil when
-- nothing is held (or the group is unusable).
local function bingo_batch_cut(bp, group, now, pending, task_prefix)
  local lkey = bp .. "i:" .. group
  if not bingo_batch_usable(bp, group) then
    return nil
  end
  local m = redis.call("HMGET", bp .. "m:" .. group, "size", "tail")
  local size = tonumber(m[1]) or 100
  local items = redis.call("LRANGE", lkey, 0, size - 1)
  if #items == 0 or not m[2] then
    return nil
  end
  redis.call("LTRIM", lkey, #items, -1)
  local parts = {}
  for i, e in ipairs(items) do
    parts[i] = string.sub(e, (string.find(e, " ", 1, true) or 0) + 1)
  end
  local t = redis.call("TIME")
  local seq = redis.call("INCR", bp .. "seq")
  local id = "batch-" .. t[1] .. string.format("%06d", tonumber(t[2])) .. "-" .. seq
  local msg = '{"id":"' .. id .. '","enqueued_at":' .. now .. ',"payload":['
    .. table.concat(parts, ",") .. '],' .. m[2] .. '}'
  redis.call("HSET", task_prefix .. id, "msg", msg, "state", "pending", "batch_items", #items)
  redis.call("LPUSH", pending, id)
  return id
end

-- Set when group is due (the earlier of its oldest item + wait and its newest + grace),
-- or forget the group when it holds nothing, has no rule or is unusable (an enqueue of
-- the group writes its rule and due time again).
local function bingo_batch_due(bp, group, batches)
  if not bingo_batch_usable(bp, group) then
    redis.call("ZREM", batches, group)
    return
  end
  local first = redis.call("LINDEX", bp .. "i:" .. group, 0)
  local m = redis.call("HMGET", bp .. "m:" .. group, "wait", "grace", "last")
  if not first or not tonumber(m[1]) then
    redis.call("ZREM", batches, group)
    if not first then
      redis.call("DEL", bp .. "m:" .. group)
    end
    return
  end
  local oldest = tonumber(string.sub(first, 1, (string.find(first, " ", 1, true) or 1) - 1))
  local due = (oldest or 0) + (tonumber(m[1]) or 0)
  local grace = tonumber(m[2]) or 0
  if grace > 0 and tonumber(m[3]) then
    due = math.min(due, tonumber(m[3]) + grace)
  end
  redis.call("ZADD", batches, due, group)
end
