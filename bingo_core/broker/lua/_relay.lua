-- relay: what a script of one queue tells another queue, whose keys live in another Redis
-- Cluster slot (workflow steps and dependencies across queues). Put before _wake.lua.
-- The script writes an entry in its own queue's outbox P:{q}:relay (hash
-- "<target queue>|<kind>|<ref>" -> value) in the same call as the change it reports, and
-- a token in P:{q}:relay:wake; relay.py delivers each entry with relay_in.lua on the
-- target queue, then deletes it. Delivery is idempotent, so an entry delivered twice (a
-- process killed between the delivery and the delete) changes nothing the second time.
-- Kinds: "dep" (ref: a task id; value: its outcome c|a|d): its dependents in the target
-- queue are released or archived; "done" (ref: workflow id|step id; value: the step's
-- result when the workflow's result is made of it): the home queue counts the step;
-- "fail" (ref: workflow id|step id; value: archived|cancelled|deleted): the home queue
-- fails the workflow; "end" (ref: workflow id; value: state|keep|error): the workflow
-- ended, the target queue ends its part; "onf" (ref: workflow id|step id; value: the
-- message): the target queue enqueues the workflow's on_failure step.
local RELAY_HOLD = 315360000
-- An outbox of the wrong type is renamed aside to P:{q}:malformed:relay (kept), a token
-- list of the wrong type deleted (a token only says "look"), so the change the script
-- makes is never refused half-way.
local function bingo_relay_put(base, field, value)
  local box, wake = base .. "relay", base .. "relay:wake"
  local kind = redis.call("TYPE", box)["ok"]
  if kind ~= "hash" and kind ~= "none" then
    redis.call("RENAME", box, base .. "malformed:relay")
  end
  redis.call("HSET", box, field, value)
  kind = redis.call("TYPE", wake)["ok"]
  if kind ~= "list" then
    redis.call("DEL", wake)
    redis.call("RPUSH", wake, "1")
  end
end
-- Task id ended with outcome (c|a|d): tell the other queues holding tasks that wait for
-- it (its hash's "relay": their names, comma-joined).
local function bingo_relay_deps(prefix, id, outcome)
  local rq = redis.call("HGET", prefix .. id, "relay")
  if not rq then
    return
  end
  local base = string.sub(prefix, 1, -3)
  for q in string.gmatch(rq, "[^,]+") do
    bingo_relay_put(base, q .. "|dep|" .. id, outcome)
  end
  redis.call("HDEL", prefix .. id, "relay")
end
-- Step id of workflow wf, whose record is in another queue (the step's "wfq", while the
-- workflow runs), completed and is kept keep seconds: tell that queue (with the result
-- when the workflow's result is made of it). Returns its score in P:{q}:completed.
-- A step of a failed workflow (its "wfh", _wf_far.lua: it had started when the workflow
-- failed) tells the home too, which counts it if the workflow resumes; its result is kept
-- at least a day (a resume holds it again).
local function bingo_relay_done(prefix, wf, id, keep, now)
  local tkey = prefix .. id
  local f = redis.call("HMGET", tkey, "wfq", "wflast", "result", "wfh")
  local home = f[1] or f[4]
  if not home then
    return now + keep
  end
  redis.call("HSET", tkey, "keep", keep)
  local result = ""
  if f[2] then
    result = f[3] or "null"
  end
  bingo_relay_put(string.sub(prefix, 1, -3), home .. "|done|" .. wf .. "|" .. id, result)
  if not f[1] then
    return now + math.max(keep, 86400)
  end
  return now + RELAY_HOLD
end
-- Step id of workflow wf, whose record is in another queue, was archived, cancelled or
-- deleted (gone): tell that queue, which fails the workflow.
local function bingo_relay_fail(prefix, wf, id, gone)
  local home = redis.call("HGET", prefix .. id, "wfq")
  if home then
    bingo_relay_put(string.sub(prefix, 1, -3), home .. "|fail|" .. wf .. "|" .. id, gone)
  end
end
