-- wf_resume: retrying an archived step of a failed workflow resumes the workflow (put
-- after _wake.lua, before task_move and task_move_many). The steps archived because of
-- the failure ("wf_held": bingo_wf_fail, or the depends_on cascade) and the retried step
-- go back: "waiting" for their dependencies that have not completed (linked again in
-- P:{q}:dependents:<dep>), or pending when all have. A step that failed by itself stays
-- archived until it is retried too (its dependents wait for it). Completed steps keep
-- their results (held again until the workflow ends) and do not run again; "done" is
-- recounted from them (a step whose hash is gone had completed: it counts). The record
-- is "running" again without its end (ended, error, failed_step, result), kept without
-- expiry (out of P:{q}:workflows:ends), and P:{q}:workflows:outcomes counts it under
-- "resumed" (its failure stays counted: each end is counted, resumed ones too). A
-- cancelled workflow is not resumed. A workflow with steps in other queues (its record's
-- "queues") resumes them through the relay (_wf_far.lua): its other queues' completed
-- steps count done from the record's d:<step>, each other queue gets a "back" relay; a
-- parent of another queue is linked again through a "link" relay.
-- Put one archived step back, at now (epoch s).
local function bingo_wf_back(prefix, sid, now)
  local base = string.sub(prefix, 1, -3)
  local skey = prefix .. sid
  local open = 0
  for dep in string.gmatch(redis.call("HGET", skey, "depends_on") or "", "[^,]+") do
    local st = redis.pcall("HGET", prefix .. dep, "state")
    if type(st) == "string" and st ~= "completed" then
      open = open + 1
      bingo_dep_add(prefix, dep, sid)
    elseif st == false then  -- a parent of another queue waits until its queue answers
      local far = bingo_wf_far_parent(skey, dep)
      if far then
        open = open + 1
        redis.call("SADD", base .. "dependents:" .. dep, sid)
        bingo_relay_put(base, far .. "|link|" .. dep .. "|" .. sid, bingo_wf_here(base))
      end
    end
  end
  redis.call("ZREM", base .. "archived", sid)
  if redis.call("HDEL", skey, "wf_held") == 1 then  -- never ran: no error of its own
    redis.call("HDEL", skey, "error", "failed_at")
  end
  if open > 0 then
    redis.call("HSET", skey, "state", "waiting", "deps_open", open)
    redis.call("ZADD", base .. "waiting", now, sid)
  else
    redis.call("HSET", skey, "state", "pending")
    redis.call("LPUSH", base .. "pending", sid)
    if redis.call("LLEN", base .. "notify") == 0 then
      redis.call("RPUSH", base .. "notify", "1")
    end
  end
end
-- Archived step id of workflow wf is retried ("run"). Returns -3 when the workflow was
-- cancelled (nothing done); 1 and the ids put back when the step is back in its
-- workflow (which runs again if it had failed); 0 when the workflow ended otherwise or
-- is gone: the caller runs the step as any task.
local function bingo_wf_resume(prefix, wf, id, now)
  local base = string.sub(prefix, 1, -3)
  local wkey = base .. "wf:" .. wf
  local st = redis.pcall("HGET", wkey, "state")
  if st == "cancelled" then
    return -3, {}
  end
  if st == "running" then
    bingo_wf_back(prefix, id, now)
    return 1, {id}
  end
  if st ~= "failed" then
    return 0, {}
  end
  local done, back = 0, {}
  local far = tonumber(now) + WF_HOLD
  for _, sid in ipairs(redis.call("LRANGE", wkey .. ":steps", 0, -1)) do
    local f = redis.pcall("HMGET", prefix .. sid, "state", "wf_held")
    if f["err"] ~= nil or not f[1] then
      done = done + 1
    elseif f[1] == "completed" then
      done = done + 1
      redis.call("ZADD", base .. "completed", far, sid)
    elseif f[1] == "archived" and (f[2] or sid == id) then
      back[#back + 1] = sid
    end
  end
  for _, sid in ipairs(back) do
    bingo_wf_back(prefix, sid, now)
  end
  done = done + bingo_wf_far_resumed(prefix, wf, id)  -- (steps of other queues: _wf_far.lua)
  redis.call("HSET", wkey, "state", "running", "done", done)
  redis.call("HDEL", wkey, "ended", "error", "failed_step", "result")
  redis.call("PERSIST", wkey)
  redis.call("PERSIST", wkey .. ":steps")
  redis.pcall("ZREM", base .. "workflows:ends", wf)
  redis.pcall("HINCRBY", base .. "workflows:outcomes", "resumed", 1)
  return 1, back
end
-- "run" on task id in state: what the workflow of a step makes of it. A completed step
-- does not run again (-1: its dependents had its result, and it is counted done; its
-- workflow, running or ended, is enqueued again as a whole); an archived step goes back (bingo_wf_resume). Returns nil when the
-- task is no workflow's concern (the caller moves it), else a code for the caller to
-- return and the ids put back.
local function bingo_wf_run(prefix, id, state, now)
  if state ~= "archived" and state ~= "completed" then
    return nil, {}
  end
  local wf = redis.call("HGET", prefix .. id, "wf")
  if not wf then
    return nil, {}
  end
  if state == "completed" then  -- a step runs once in its workflow, whatever its state
    return -1, {}
  end
  if redis.call("EXISTS", string.sub(prefix, 1, -3) .. "wf:" .. wf) == 0 then
    local far = bingo_wf_far_ask(prefix, wf, id)  -- a part of another queue's workflow
    if far == "back" then
      bingo_wf_back(prefix, id, now)
      return 1, {id}
    end
    return far, {}
  end
  local code, back = bingo_wf_resume(prefix, wf, id, now)
  if code == 0 then
    return nil, {}
  end
  return code, back
end
