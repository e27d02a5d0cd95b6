-- wake: tell the clients waiting for a task (Client.wait, `tasks wait`) that it ended, and
-- release or archive the tasks that depend on it (the depends_on option).
-- Put before the scripts that end a task (scripts.WAKING). A waiter counts itself in the
-- task hash's "waiters" field (wait_begin.lua) and blocks on P:{q}:wake:<id>;
-- bingo_wake(prefix, id, outcome) pushes one token per counted waiter to that list
-- ("c" completed, "a" archived, "d" deleted), lets the list expire after 60 s and clears
-- the count. prefix is the queue's task key prefix P:{q}:t: (in the script's KEYS), so
-- every key below is in the queue's slot. Call it before the task hash is deleted. Tasks
-- nobody waits for and nothing depends on cost one HMGET.
-- A task others depend on has "dependents" in its hash: "1", their ids in the set
-- P:{q}:dependents:<id> (enqueue_deps.lua), or "=<id>", its one dependent, and no set
-- (wf_enqueue.lua; a second dependent moves both to the set, bingo_dep_add). The field
-- stays on a completed task (its dependents were told): task_move drops it before a
-- completed task runs again or is archived. Each dependent is "waiting" (in
-- P:{q}:waiting) with "deps_open" open dependencies (absent: one) and "depends_on" (its
-- dependency ids, comma-joined).
-- "c": each waiting dependent counts one down and, at zero, goes to pending (or to
-- scheduled at its process_at) with a wake-up token. "a"/"d": each waiting dependent is
-- archived naming this task, and so on down the chain.
local function bingo_tell(prefix, id, outcome, n)
  if not n or n < 1 then
    return
  end
  local wkey = string.sub(prefix, 1, -3) .. "wake:" .. id
  if redis.call("TYPE", wkey)["ok"] ~= "list" then
    redis.call("DEL", wkey)
  end
  local tokens = {}
  for i = 1, math.min(n, 1000) do
    tokens[i] = outcome
  end
  for _ = 1, math.ceil(n / 1000) do
    redis.call("RPUSH", wkey, unpack(tokens))
  end
  redis.call("EXPIRE", wkey, 60)
  redis.call("HDEL", prefix .. id, "waiters")
end
-- The waiting tasks this call counted down without releasing them (task key -> {at: their
-- process_at or false, open: their deps_open, add: the count-downs not yet written}): a
-- call completing many of the tasks one waits for (a chord's group, acked together) reads
-- its hash once. Only a completion ("c") reads it; a task released, archived or unlinked
-- leaves it. With dep_defer (ack.lua) the count-downs are written once, by
-- bingo_dep_flush at the end of the call, or not at all when the task is released.
local dep_waiting = {}
local dep_defer = false
local function bingo_dep_flush()
  for dkey, c in pairs(dep_waiting) do
    if c.add > 0 then
      redis.call("HINCRBY", dkey, "deps_open", -c.add)
      c.add = 0
    end
  end
end
-- A waiting task leaves P:{q}:waiting and its dependencies' sets (cancel, delete, run now).
local function bingo_unlink(prefix, id)
  dep_waiting[prefix .. id] = nil
  local base = string.sub(prefix, 1, -3)
  redis.call("ZREM", base .. "waiting", id)
  local deps = redis.call("HGET", prefix .. id, "depends_on")
  for dep in string.gmatch(deps or "", "[^,]+") do
    if redis.pcall("HGET", prefix .. dep, "dependents") == "=" .. id then
      -- (still "1": its dependents in other queues, "relay", are told when it ends)
      redis.call("HSET", prefix .. dep, "dependents", 1)
    else
      redis.pcall("SREM", base .. "dependents:" .. dep, id)
    end
  end
  redis.call("HDEL", prefix .. id, "deps_open")
end
-- Task id of this queue (its hash exists) gets dependent did of this queue (nil: only
-- marked as having dependents, its "relay" names their queues).
local function bingo_dep_add(prefix, dep, did)
  local cur = redis.call("HGET", prefix .. dep, "dependents")
  if cur and string.sub(cur, 1, 1) == "=" then
    if string.sub(cur, 2) == did then
      return
    end
    if not did then  -- (its one dependent here stays in its hash)
      return
    end
    redis.call("SADD", string.sub(prefix, 1, -3) .. "dependents:" .. dep, string.sub(cur, 2))
  end
  if did then
    redis.call("SADD", string.sub(prefix, 1, -3) .. "dependents:" .. dep, did)
  end
  if cur ~= "1" then
    redis.call("HSET", prefix .. dep, "dependents", 1)
  end
end
-- The dependents of task id (one: its hash's "dependents" value, nil when not read) are
-- told it ended with outcome.
local function bingo_dependents(prefix, id, outcome, one)
  local base = string.sub(prefix, 1, -3)
  local todo = {id}
  local ones = {one}  -- (each archived dependent's own "dependents" value)
  local why = {}
  local i = 1
  local now = nil
  while i <= #todo do
    local dep = todo[i]
    local ids
    one = ones[i]
    if one and string.sub(one, 1, 1) == "=" then
      ids = {string.sub(one, 2)}
    else
      local skey = base .. "dependents:" .. dep
      -- (SPOP of more than it holds: every member, the set deleted, in one call)
      ids = redis.pcall("SPOP", skey, 2147483647)
      if type(ids) ~= "table" or ids["err"] then
        redis.call("DEL", skey)
        ids = {}
      end
    end
    local gone = i > 1 and "archived" or (outcome == "d" and "deleted" or "archived")
    if i == 1 and outcome == "a" and redis.call("HEXISTS", prefix .. dep, "cancel_by") == 1 then
      gone = "cancelled"
    end
    local released = {}  -- (in the order they were released: one ZREM and LPUSH each)
    local pend = {}
    for _, did in ipairs(ids) do
      local dkey = prefix .. did
      local st
      local c = outcome == "c" and dep_waiting[dkey] or nil
      if c then
        st = {"waiting"}
      else
        st = redis.pcall("HMGET", dkey, "state", "process_at", "deps_open")
      end
      if st["err"] == nil and st[1] == "waiting" then
        if outcome == "c" then
          if not c then
            -- (no "deps_open": it waits for one task)
            c = {at = st[2], open = tonumber(st[3]) or 1, add = 0, has = st[3] ~= false}
            dep_waiting[dkey] = c
          end
          if dep_defer then
            c.open, c.add = c.open - 1, c.add + 1
          else
            c.open = redis.call("HINCRBY", dkey, "deps_open", -1)
            c.has = true
          end
          if c.open <= 0 then
            dep_waiting[dkey] = nil
            released[#released + 1] = did
            local at = c.at
            if at then
              redis.call("HSET", dkey, "state", "scheduled")
              redis.call("ZADD", base .. "scheduled", at, did)
            else
              redis.call("HSET", dkey, "state", "pending")
              pend[#pend + 1] = did
            end
            if c.has then
              redis.call("HDEL", dkey, "deps_open")
            end
          end
        else
          if not now then
            now = redis.call("TIME")[1]
          end
          bingo_unlink(prefix, did)
          redis.call("HSET", dkey, "state", "archived", "failed_at", now,
            "error", "dependency " .. dep .. " was " .. gone)
          redis.call("ZADD", base .. "archived", now, did)
          local f = redis.call("HMGET", dkey, "waiters", "dependents", "wf")
          if f[3] then  -- a workflow step archived because of another: resumable
            redis.call("HSET", dkey, "wf_held", 1)
          end
          bingo_tell(prefix, did, "a", tonumber(f[1]))
          if f[2] then
            redis.call("HDEL", dkey, "dependents")
            todo[#todo + 1] = did
            ones[#todo] = f[2]
            bingo_relay_deps(prefix, did, "a")
          end
        end
      end
    end
    for k = 1, #released, 1000 do
      redis.call("ZREM", base .. "waiting", unpack(released, k, math.min(k + 999, #released)))
    end
    for k = 1, #pend, 1000 do
      redis.call("LPUSH", base .. "pending", unpack(pend, k, math.min(k + 999, #pend)))
    end
    if #released > 0 and redis.call("LLEN", base .. "notify") == 0 then
      redis.call("RPUSH", base .. "notify", "1")
    end
    i = i + 1
  end
end
-- Workflows (wf_enqueue.lua): a step's hash holds "wf", the workflow id; the record is
-- P:{q}:wf:<id> (state running|completed|failed|cancelled, total, done, last, group, keep,
-- on_failure_id, on_failure, waiters, failures) and P:{q}:wf:<id>:steps lists the step ids;
-- P:{q}:workflows:outcomes (hash) counts the ended ones by state. While
-- the workflow runs, its completed steps stay in P:{q}:completed with a far score (their
-- results are its steps' parents); when it ends each gets now + its own "keep".
local WF_HOLD = 315360000
-- The records of the running workflows this call counted steps of (key -> their state,
-- total, last, group, keep): a call acking many steps of one workflow reads it once. Only
-- the count changes while it runs; dropped when it ends (bingo_wf_end).
-- A call counting several steps of one workflow (ack.lua) writes their count once: the
-- steps counted but not yet written are the entry's "add", written by bingo_wf_flush
-- (at the end of ack.lua, and before the workflow ends or fails).
local wf_running = {}
local function bingo_wf_flush(wkey)
  for k, f in pairs(wf_running) do
    if (wkey == nil or k == wkey) and f.add and f.add > 0 then
      redis.call("HINCRBY", k, "done", f.add)
      f.add = 0
    end
  end
end
-- Push one token per counted waiter of the workflow to P:{q}:wake:<workflow id>.
local function bingo_wf_tell(base, wf, outcome)
  local wkey = base .. "wf:" .. wf
  local n = tonumber(redis.call("HGET", wkey, "waiters"))
  if n and n > 0 then
    local lkey = base .. "wake:" .. wf
    if redis.call("TYPE", lkey)["ok"] ~= "list" then
      redis.call("DEL", lkey)
    end
    for _ = 1, n do
      redis.call("RPUSH", lkey, outcome)
    end
    redis.call("EXPIRE", lkey, 60)
    redis.call("HDEL", wkey, "waiters")
  end
end
-- The workflow ended: its completed steps keep their results for their own retention
-- from now (a failed workflow's at least as long as its record: retrying its failed step
-- resumes it, _wf_resume.lua), and the record is kept for its "keep" seconds (that end
-- in P:{q}:workflows:ends: _wf_trim.lua).
local function bingo_wf_end(prefix, wf, now, failed)
  local base = string.sub(prefix, 1, -3)
  local wkey = base .. "wf:" .. wf
  bingo_wf_flush(wkey)
  wf_running[wkey] = nil
  local r = redis.call("HMGET", wkey, "keep", "step_keep")
  local keep = tonumber(r[1]) or 86400
  local floor = failed and keep or 0
  local scores = {}
  local sk = tonumber(r[2])
  if sk then
    -- (every step completed here has the same retention, bingo_wf_kept: the steps in
    -- P:{q}:completed get one score; XX leaves out those not completed)
    local score = now + math.max(sk, floor)
    scores[1] = "XX"
    for _, sid in ipairs(redis.call("LRANGE", wkey .. ":steps", 0, -1)) do
      scores[#scores + 1] = score
      scores[#scores + 1] = sid
      if #scores > 2000 then
        redis.call("ZADD", base .. "completed", unpack(scores))
        scores = {"XX"}
      end
    end
    if #scores > 1 then
      redis.call("ZADD", base .. "completed", unpack(scores))
    end
  else
    for _, sid in ipairs(redis.call("LRANGE", wkey .. ":steps", 0, -1)) do
      local f = redis.call("HMGET", prefix .. sid, "state", "keep")
      if f[1] == "completed" then
        scores[#scores + 1] = now + math.max(tonumber(f[2]) or 0, floor)
        scores[#scores + 1] = sid
      end
    end
    for k = 1, #scores, 2000 do
      redis.call("ZADD", base .. "completed", unpack(scores, k, math.min(k + 1999, #scores)))
    end
  end
  redis.call("EXPIRE", wkey, math.max(1, math.floor(keep)))
  redis.call("EXPIRE", wkey .. ":steps", math.max(1, math.floor(keep)))
  local g = redis.call("HMGET", wkey, "queues", "state", "error", "failures")
  -- (the generation: the parts apply ends and resumes in order, _wf_far.lua)
  local gen = 2 * (tonumber(g[4]) or 0) + (g[2] == "failed" and 0 or 2)
  for q in string.gmatch(g[1] or "", "[^,]+") do  -- its steps in other queues
    bingo_relay_put(base, q .. "|end|" .. wf .. "|" .. gen, g[2] .. "|" .. keep .. "|" .. (g[3] or ""))
  end
  redis.pcall("ZADD", base .. "workflows:ends", now + math.max(1, math.floor(keep)), wf)
  bingo_wf_trim(base, now)
end
-- Step id of workflow wf completed (ack.lua, after writing its state, result and "keep")
-- and is kept keep seconds: count it; the last one completes the workflow, with the result of
-- its last steps (a list for a final group). Returns the step's score in
-- P:{q}:completed.
-- Count one more step (by: so many) of running workflow wf (f: its record's state, total,
-- last, group); the last one completes the workflow. Returns whether it did.
local function bingo_wf_count(prefix, wf, f, now, by)
  local base = string.sub(prefix, 1, -3)
  local wkey = base .. "wf:" .. wf
  if redis.call("HINCRBY", wkey, "done", by or 1) < (tonumber(f[2]) or 0) then
    return false
  end
  local parts = {}
  for lid in string.gmatch(f[3] or "", "[^,]+") do
    -- (a last step of another queue: the result it was counted with)
    local r = redis.call("HGET", prefix .. lid, "result") or redis.call("HGET", wkey, "r:" .. lid)
    if not r or r == "" then
      r = "null"
    end
    parts[#parts + 1] = r
  end
  local result = parts[1] or "null"
  if f[4] == "1" then
    result = "[" .. table.concat(parts, ",") .. "]"
  end
  redis.call("HSET", wkey, "state", "completed", "ended", now, "result", result)
  redis.pcall("HINCRBY", base .. "workflows:outcomes", "completed", 1)
  bingo_wf_end(prefix, wf, now, false)
  bingo_wf_tell(base, wf, "c")
  return true
end
-- A step of workflow record wkey (f: its fields read by bingo_wf_done, f[6] "step_keep")
-- completed here with retention keep: "step_keep" holds the retention every step
-- completed here has ("" none yet, "m" mixed; absent on records written before it), so
-- bingo_wf_end gives them one score without reading each step.
local function bingo_wf_kept(wkey, f, keep)
  local k = tostring(keep)
  if f[6] == k or f[6] == "m" or not f[6] then
    return
  end
  if f[6] ~= "" then
    k = "m"
  end
  redis.call("HSET", wkey, "step_keep", k)
  f[6] = k
end
local function bingo_wf_done(prefix, wf, id, keep, now)
  local wkey = string.sub(prefix, 1, -3) .. "wf:" .. wf
  local f = wf_running[wkey]
  if f == nil then
    f = redis.pcall("HMGET", wkey, "state", "total", "last", "group", "keep", "step_keep", "done")
    if f["err"] == nil and f[1] == "running" then
      wf_running[wkey] = f
    end
  end
  if f["err"] == nil and f[1] then
    bingo_wf_kept(wkey, f, keep)
  end
  if f["err"] ~= nil or f[1] ~= "running" then
    if f["err"] == nil and not f[1] then  -- no record here: a step of another queue's
      return bingo_relay_done(prefix, wf, id, keep, now)
    end
    if f[1] == "failed" then  -- a resume needs its result: kept as long as the record
      return now + math.max(keep, tonumber(f[5]) or 0)
    end
    return now + keep
  end
  -- (counted in f[7]; written once the call ends, bingo_wf_flush, or with the last step)
  f[7] = (tonumber(f[7]) or 0) + 1
  f.add = (f.add or 0) + 1
  if f[7] < (tonumber(f[2]) or 0) then
    return now + WF_HOLD
  end
  local by = f.add
  f.add = 0
  if not bingo_wf_count(prefix, wf, f, now, by) then
    return now + WF_HOLD
  end
  return now + keep
end
-- Archive the steps of workflow wf in this queue that have not started (waiting, pending,
-- scheduled), but id, with error "workflow <wf> failed: <why>", marked "wf_held".
local function bingo_wf_stop(prefix, wf, id, why, now)
  local base = string.sub(prefix, 1, -3)
  local wkey = base .. "wf:" .. wf
  for _, sid in ipairs(redis.call("LRANGE", wkey .. ":steps", 0, -1)) do
    local skey = prefix .. sid
    local state = redis.pcall("HGET", skey, "state")
    local moved = false
    if sid == id then
      moved = false
    elseif state == "waiting" then
      bingo_unlink(prefix, sid)
      moved = true
    elseif state == "pending" then
      moved = redis.call("LREM", base .. "pending", 1, sid) > 0
    elseif state == "scheduled" then
      moved = redis.call("ZREM", base .. "scheduled", sid) > 0
    end
    if moved then
      redis.call("DEL", base .. "dependents:" .. sid)
      redis.call("HDEL", skey, "dependents")
      redis.call("HSET", skey, "state", "archived", "failed_at", now,
        "error", "workflow " .. wf .. " failed: " .. why, "wf_held", 1)
      redis.call("ZADD", base .. "archived", now, sid)
      bingo_tell(prefix, sid, "a", tonumber(redis.call("HGET", skey, "waiters")))
    end
  end
end
-- Step id of workflow wf was archived, cancelled or deleted (gone): the workflow fails,
-- once. Its steps that have not started (waiting, pending, scheduled) are archived and
-- marked "wf_held" (archived because of the failure: a resume puts them back), its
-- on_failure step is enqueued (pending), its waiters are woken. A step in retry has
-- started: it stays, and may finish. A resumed workflow (_wf_resume.lua) that fails
-- again enqueues on_failure again: the n-th failure's step is "<on_failure_id>-<n>".
-- With id "" (wf_cancel.lua) the workflow is cancelled instead: state "cancelled", no
-- on_failure. Returns whether it acted (the workflow was running).
local function bingo_wf_fail(prefix, wf, id, gone)
  local base = string.sub(prefix, 1, -3)
  local wkey = base .. "wf:" .. wf
  local st = redis.pcall("HGET", wkey, "state")
  if st ~= "running" then
    if st == false and id ~= "" then  -- no record here: a step of another queue's
      bingo_relay_fail(prefix, wf, id, gone)
    end
    return false
  end
  bingo_wf_flush(wkey)
  wf_running[wkey] = nil
  local t = redis.call("TIME")  -- as precise as "created" (microseconds)
  local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  local why, state = "step " .. id .. " was " .. gone, "failed"
  if id == "" then
    why, state = "cancelled", "cancelled"
    redis.call("HSET", wkey, "state", state, "ended", now, "error", why)
  else
    redis.call("HSET", wkey, "state", state, "ended", now, "failed_step", id, "error", why)
  end
  redis.pcall("HINCRBY", base .. "workflows:outcomes", state, 1)
  bingo_wf_stop(prefix, wf, id, why, now)
  local n = 0
  if id ~= "" then
    n = redis.call("HINCRBY", wkey, "failures", 1)
  end
  local of = redis.call("HMGET", wkey, "on_failure_id", "on_failure", "on_failure_queue")
  if id ~= "" and of[1] and of[2] then
    local oid, msg = of[1], of[2]
    if n > 1 then  -- the same message under this failure's id
      local head = '{"id":"' .. oid .. '"'
      oid = oid .. "-" .. n
      if string.sub(msg, 1, #head) == head then
        msg = '{"id":"' .. oid .. '"' .. string.sub(msg, #head + 1)
      end
    end
    if of[3] then  -- it is in another queue
      bingo_relay_put(base, of[3] .. "|onf|" .. wf .. "|" .. oid, msg)
    elseif redis.call("EXISTS", prefix .. oid) == 0 then
      redis.call("HSET", prefix .. oid, "msg", msg, "state", "pending")
      redis.call("LPUSH", base .. "pending", oid)
      if redis.call("LLEN", base .. "notify") == 0 then
        redis.call("RPUSH", base .. "notify", "1")
      end
    end
  end
  bingo_wf_end(prefix, wf, now, id ~= "")
  bingo_wf_tell(base, wf, "a")
  return true
end
-- f: the task hash's waiters, dependents, wf, state and relay when the caller read them
-- already (ack.lua reads them with its own fields in one HMGET); nil: read here.
local function bingo_wake(prefix, id, outcome, f)
  if f == nil then
    f = redis.pcall("HMGET", prefix .. id, "waiters", "dependents", "wf", "state", "relay")
    if f["err"] ~= nil then
      return
    end
  end
  local deps = f[2]
  if f[4] == "completed" then
    deps = nil  -- (its dependents were told when it completed)
  end
  if not f[1] and not deps and (not f[3] or outcome == "c") then
    return  -- nobody waits, nothing depends on it, no workflow to fail
  end
  bingo_tell(prefix, id, outcome, tonumber(f[1]))
  local gone = nil
  -- (a completed step deleted by hand has done its part: the workflow goes on)
  if f[3] and outcome ~= "c" and f[4] ~= "completed" then
    gone = outcome == "d" and "deleted" or "archived"
    if outcome == "a" and redis.call("HEXISTS", prefix .. id, "cancel_by") == 1 then
      gone = "cancelled"
    end
  end
  if deps then
    if outcome ~= "c" then  -- (a completed task's field stays: it is never read again)
      redis.call("HDEL", prefix .. id, "dependents")
    end
    bingo_dependents(prefix, id, outcome, deps)
    if f[5] then  -- dependents in other queues
      bingo_relay_deps(prefix, id, outcome)
    end
  end
  if gone then
    bingo_wf_fail(prefix, f[3], id, gone)
  end
end
