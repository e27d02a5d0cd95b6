-- dep_link: a task of another queue waits for task ARGV[1] of this queue (the depends_on
-- option across queues; enqueue_deps.lua wrote the dependent there first, "waiting").
-- Completed (and retained) or archived: the answer goes to the outbox at once; missing:
-- it goes as "deleted" (the dependent is archived, naming it); otherwise the dependent
-- queue joins the task's "relay" field, and the script that ends the task tells it
-- (_relay.lua's bingo_relay_deps, from _wake.lua). As this runs in the task's slot, the
-- task cannot end between the look and the link.
-- KEYS[1] -> P:{q}:t:   (task key prefix)
-- ARGV[1] -> the task id, ARGV[2] -> the dependent's queue, ARGV[3] -> the dependent's id
-- Returns 1 linked or answered, 0 no such task (answered "d").
local prefix, id, dq = KEYS[1], ARGV[1], ARGV[2]
local base = string.sub(prefix, 1, -3)
local field = dq .. "|dep|" .. id .. "|" .. ARGV[3]  -- one entry per dependent
local state = redis.pcall("HGET", prefix .. id, "state")
if type(state) ~= "string" then
  bingo_relay_put(base, field, "d")
  return 0
elseif state == "completed" then
  bingo_relay_put(base, field, "c")
elseif state == "archived" then
  bingo_relay_put(base, field, "a")
else
  local rq = redis.call("HGET", prefix .. id, "relay")
  local known = false
  for q in string.gmatch(rq or "", "[^,]+") do
    known = known or q == dq
  end
  if not known then
    redis.call("HSET", prefix .. id, "relay", rq and (rq .. "," .. dq) or dq)
  end
  redis.call("HSETNX", prefix .. id, "dependents", 1)  -- (keeps a "=<id>" one, _wake.lua)
end
return 1
