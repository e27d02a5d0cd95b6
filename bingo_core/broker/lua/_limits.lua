-- limits: concurrency and rate limits, put before fetch, late_start, ack, retry, archive and requeue
-- when they are loaded (broker/scripts.py). A task of a limited type has the hash field
-- lim = "<concurrency>|<rate count>|<rate period s>|<subject>" (0: no such limit); the
-- subject is the type, or the type, \x1f and its limit_key value. Per subject, under the
-- queue's limit prefix LP (P:{q}:limit:):
--   LP .. subject .. ":active"  zset id -> lease expiry at admission: the tasks holding a
--                               slot (freed by the script that ends the task); when their
--                               count reaches the limit, each is checked: one whose id is
--                               no longer leased (P:{q}:lease, score > now) is dropped
--   LP .. subject .. ":next"    string: the earliest start time (Redis TIME) the rate
--                               limit gives the next task; each start given moves it on
--                               by period / count (expires 1 s after it has passed)
--   LP .. subject .. ":held"    list of held-back ids (LPUSH; RPOP takes the first held)
-- and P:{q}:throttled, zset lim -> when fetch looks at that subject's held ids again
--   (Redis TIME): shortly before its next start time, or its earliest slot lease expiry.
-- A limit key of the wrong type is never written: its tasks run unlimited (fail open).

local function lim_parse(lim)
  local c, r, p, subject = string.match(lim, "^(%d+)|(%d+)|([%d.e+-]+)|(.*)$")
  if not c then
    return nil
  end
  return tonumber(c), tonumber(r), tonumber(p), subject
end

-- redis.call(cmd, key, ...values), in chunks of at most 1000 values of `step` each
-- (unpack has a limit).
local function lim_each(cmd, key, values, step, protected)
  local run = protected and redis.pcall or redis.call
  for i = 1, #values, 1000 * step do
    run(cmd, key, unpack(values, i, math.min(#values, i + 1000 * step - 1)))
  end
end

-- Push a wake-up token when tasks are pending and none is waiting (best effort: a list
-- of the wrong type is left alone).
local function lim_nudge(pending, notify)
  local waiting = redis.pcall("LLEN", pending)
  if type(waiting) == "number" and waiting > 0 and redis.pcall("LLEN", notify) == 0 then
    redis.pcall("RPUSH", notify, "1")
  end
end

-- Free the slots of tasks `ids` of one subject (lim: their lim field) and move as many
-- held ids of the subject, the first held first, to the head of the pending list, waking
-- an idle worker. Best effort: a limit key of the wrong type is left alone.
local function lim_release_many(lp, throttled, pending, notify, lim, ids)
  local c, _, _, subject = lim_parse(lim)
  if not c or c == 0 then
    return
  end
  local base = lp .. subject
  lim_each("ZREM", base .. ":active", ids, 1, true)
  local moved = redis.pcall("RPOP", base .. ":held", #ids)
  if type(moved) ~= "table" then
    return
  end
  local back = {}
  for i = #moved, 1, -1 do
    back[#back + 1] = moved[i]
  end
  if #back == 0 then
    return
  end
  local kind = redis.call("TYPE", pending)["ok"]
  if kind == "list" or kind == "none" then
    lim_each("RPUSH", pending, back, 1)
    lim_nudge(pending, notify)
  else
    lim_each("RPUSH", base .. ":held", back, 1)  -- pending is of the wrong type: kept held
  end
  if redis.call("LLEN", base .. ":held") == 0 then
    redis.pcall("ZREM", throttled, lim)
  end
end

-- Free task id's slot (lim: its lim field, or false); see lim_release_many.
local function lim_release(lp, throttled, pending, notify, id, lim)
  if lim then
    lim_release_many(lp, throttled, pending, notify, lim, {id})
  end
end
