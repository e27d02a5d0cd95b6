-- queue_delete: delete a queue's tasks (a batch per call), then its keys. (The caller then
-- removes the name from P:queues, which lives in another Cluster slot.)
-- KEYS[1] -> P:{q}:pending
-- KEYS[2] -> P:{q}:lease
-- KEYS[3] -> P:{q}:scheduled
-- KEYS[4] -> P:{q}:retry
-- KEYS[5] -> P:{q}:archived
-- KEYS[6] -> P:{q}:completed
-- KEYS[7] -> P:{q}:paused
-- KEYS[8] -> P:{q}:notify
-- KEYS[9] -> P:{q}:processed
-- KEYS[10] -> P:{q}:failed
-- KEYS[11] -> P:{q}:t:         (task key prefix: a task hash is KEYS[11] .. id)
-- KEYS[12] -> P:{q}:limit:     (limit key prefix: tasks held back by a limit count too)
-- KEYS[13] -> P:{q}:throttled
-- KEYS[14] -> P:{q}:batches    (batch groups; their items count as tasks, and go with the
--   queue's last keys)
-- KEYS[15] -> P:{q}:batch:     (prefix of the batch groups' keys)
-- (and P:{q}:waiting, derived from KEYS[11]: a waiting task leaves its dependencies'
--   sets P:{q}:dependents:<id>, which go when they are empty; and the workflow keys, the
--   parts of other queues' workflows P:{q}:workflows:away, the outbox P:{q}:relay)
-- ARGV[1] -> "1" to delete a queue that still holds tasks, "0" to refuse
-- ARGV[2] -> the most tasks to delete in this call
-- Returns {deleted, left}: tasks deleted by this call and tasks left (call again while
--   left > 0); {-1, n} when the queue holds n tasks and ARGV[1] is "0". Active tasks are
--   deleted too: their workers' acks then find nothing and are dropped.
-- The held lists of the subjects with held-back tasks: {lim, held list key}.
local function held_lists()
  local out = {}
  for _, lim in ipairs(redis.call("ZRANGE", KEYS[13], 0, -1)) do
    local subject = string.match(lim, "^[^|]*|[^|]*|[^|]*|(.*)$")
    if subject then
      out[#out + 1] = {lim, KEYS[12] .. subject}
    end
  end
  return out
end
local function held_total()
  local n = 0
  for _, h in ipairs(held_lists()) do
    local len = redis.pcall("LLEN", h[2] .. ":held")
    n = n + (type(len) == "number" and len or 0)
  end
  return n
end
-- Batch items held, in every group.
local function batched_total()
  local n = 0
  if redis.call("TYPE", KEYS[14])["ok"] ~= "zset" then
    return 0
  end
  for _, group in ipairs(redis.call("ZRANGE", KEYS[14], 0, -1)) do
    local len = redis.pcall("LLEN", KEYS[15] .. "i:" .. group)
    n = n + (type(len) == "number" and len or 0)
  end
  return n
end
local batched = batched_total()
local zsets = {KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], string.sub(KEYS[11], 1, -3) .. "waiting"}
local total = redis.call("LLEN", KEYS[1]) + held_total() + batched
for _, key in ipairs(zsets) do
  total = total + redis.call("ZCARD", key)
end
if total > 0 and ARGV[1] ~= "1" then
  return {-1, total}
end
local budget = tonumber(ARGV[2])
local deleted = 0
while budget > 0 do
  local ids = redis.call("LRANGE", KEYS[1], 0, budget - 1)
  if #ids == 0 then
    break
  end
  for _, id in ipairs(ids) do
    redis.call("DEL", KEYS[11] .. id)
  end
  redis.call("LTRIM", KEYS[1], #ids, -1)
  deleted = deleted + #ids
  budget = budget - #ids
end
for k, key in ipairs(zsets) do
  while budget > 0 do
    local ids = redis.call("ZRANGE", key, 0, budget - 1)
    if #ids == 0 then
      break
    end
    for _, id in ipairs(ids) do
      if k == 6 then
        bingo_unlink(KEYS[11], id)
      end
      redis.call("DEL", KEYS[11] .. id)
    end
    redis.call("ZREM", key, unpack(ids))
    deleted = deleted + #ids
    budget = budget - #ids
  end
end
for _, h in ipairs(held_lists()) do
  local held = h[2] .. ":held"
  while budget > 0 and redis.call("TYPE", held)["ok"] == "list" do
    local ids = redis.call("LRANGE", held, 0, budget - 1)
    if #ids == 0 then
      break
    end
    for _, id in ipairs(ids) do
      redis.call("DEL", KEYS[11] .. id)
    end
    redis.call("LTRIM", held, #ids, -1)
    deleted = deleted + #ids
    budget = budget - #ids
  end
  if redis.call("TYPE", held)["ok"] ~= "list" then
    redis.call("DEL", held, h[2] .. ":active", h[2] .. ":next", h[2] .. ":rate")
    redis.call("ZREM", KEYS[13], h[1])
  end
end
local left = redis.call("LLEN", KEYS[1]) + held_total()
for _, key in ipairs(zsets) do
  left = left + redis.call("ZCARD", key)
end
if left == 0 then
  if redis.call("TYPE", KEYS[14])["ok"] == "zset" then
    for _, group in ipairs(redis.call("ZRANGE", KEYS[14], 0, -1)) do
      redis.call("DEL", KEYS[15] .. "i:" .. group, KEYS[15] .. "m:" .. group)
    end
  end
  redis.call("DEL", KEYS[14], KEYS[15] .. "seq")
  deleted = deleted + batched
  redis.call("DEL", KEYS[1], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[13])
  -- the queue's own limits (:rate: a version's sliding window, gone one period on)
  redis.call("DEL", KEYS[12] .. ":active", KEYS[12] .. ":next", KEYS[12] .. ":rate")
  local base = string.sub(KEYS[11], 1, -3)  -- its workflows' records
  local wfs = redis.pcall("ZRANGE", base .. "workflows", 0, -1)
  if type(wfs) == "table" and not wfs["err"] then
    for _, wf in ipairs(wfs) do
      redis.call("DEL", base .. "wf:" .. wf, base .. "wf:" .. wf .. ":steps")
    end
  end
  redis.call("DEL", base .. "workflows", base .. "workflows:outcomes", base .. "workflows:ends")
  -- its parts of other queues' workflows, its outbox (the caller delivered it before)
  local away = redis.pcall("HKEYS", base .. "workflows:away")
  if type(away) == "table" and not away["err"] then
    for _, wf in ipairs(away) do
      redis.call("DEL", base .. "wf:" .. wf .. ":steps")
    end
  end
  redis.call("DEL", base .. "workflows:away", base .. "relay", base .. "relay:wake")
end
return {deleted, left}
