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
-- ARGV[1] -> "1" to delete a queue that still holds tasks, "0" to refuse
-- ARGV[2] -> the most tasks to delete in this call
-- Returns {deleted, left}: tasks deleted by this call and tasks left (call again while
--   left > 0); {-1, n} when the queue holds n tasks and ARGV[1] is "0". Active tasks are
--   deleted too: their workers' acks then find nothing and are dropped.
local total = redis.call("LLEN", KEYS[1])
for k = 2, 6 do
  total = total + redis.call("ZCARD", KEYS[k])
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
for k = 2, 6 do
  while budget > 0 do
    local ids = redis.call("ZRANGE", KEYS[k], 0, budget - 1)
    if #ids == 0 then
      break
    end
    for _, id in ipairs(ids) do
      redis.call("DEL", KEYS[11] .. id)
    end
    redis.call("ZREM", KEYS[k], unpack(ids))
    deleted = deleted + #ids
    budget = budget - #ids
  end
end
local left = redis.call("LLEN", KEYS[1])
for k = 2, 6 do
  left = left + redis.call("ZCARD", KEYS[k])
end
if left == 0 then
  redis.call("DEL", KEYS[1], KEYS[7], KEYS[8], KEYS[9], KEYS[10])
end
return {deleted, left}
