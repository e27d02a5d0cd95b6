-- relay_in: deliver one outbox entry of another queue (see _relay.lua) to this queue.
-- Idempotent: delivering an entry again changes nothing.
-- KEYS[1] -> P:{q}:t:          (task key prefix; every other key derives from it)
-- ARGV[1] -> kind: dep | done | fail | end | onf | resume | back | one | link
-- ARGV[2] -> ref, ARGV[3] -> value (as in _relay.lua)
-- "dep" (ref: id, or id|dependent): the dependents in this queue of task id
--   (P:{q}:dependents:<id>) count it completed (c) or are archived (a, d); the set is
--   deleted, so once. For a workflow id (from the home's wf_enqueue call) this queue's
--   part is no longer staged (P:{q}:workflows:staged).
-- "done" (ref: wf|step): the running workflow counts the step, once (its record's field
--   d:<step>), keeping the result given (r:<step>); the last one completes it.
-- "fail" (ref: wf|step): the running workflow fails (bingo_wf_fail: once).
-- "end" (ref: wf|generation; value: state|keep|error): this queue's part of the workflow ends: its
--   completed steps keep their results for their own retention from now, its steps that
--   have not started are archived unless it completed, its steps no longer report to the
--   home queue, the step list expires after keep seconds.
-- "resume", "back", "one", "link": resuming a workflow spread over queues (_wf_far.lua).
-- "end" and "done" keep what a resume needs when the workflow failed: the steps' home
--   ("wfh"), the completed steps' results as long as the record, the record's d:<step>.
-- "onf" (ref: wf|id; value: message): the on_failure step is written pending unless this
--   queue already wrote it (P:{q}:wf:<wf>:onf:<id>, kept a day; each failure of a resumed
--   workflow has its own id).
-- Returns 1.
local prefix = KEYS[1]
local base = string.sub(prefix, 1, -3)
local kind, ref, value = ARGV[1], ARGV[2], ARGV[3]
local t = redis.call("TIME")  -- a workflow's "ended" as precise as its "created"
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if kind == "dep" then  -- (ref: id, or id|dependent from dep_link.lua)
  local id = string.match(ref, "^[^|]*")
  bingo_dependents(prefix, id, value)
  redis.pcall("ZREM", base .. "workflows:staged", id)  -- (a workflow id: its part is open)
elseif kind == "done" then
  local wf, step = string.match(ref, "^([^|]*)|(.*)$")
  local wkey = base .. "wf:" .. wf
  local f = redis.pcall("HMGET", wkey, "state", "total", "last", "group")
  if f["err"] == nil and (f[1] == "running" or f[1] == "failed")
      and redis.call("HSETNX", wkey, "d:" .. step, 1) == 1 then
    if value ~= "" then
      redis.call("HSET", wkey, "r:" .. step, value)
    end
    if f[1] == "running" then  -- (a failed one counts it when it resumes)
      bingo_wf_count(prefix, wf, f, now)
    end
  end
elseif kind == "fail" then
  local wf, step = string.match(ref, "^([^|]*)|(.*)$")
  if redis.call("EXISTS", base .. "wf:" .. wf) == 1 then
    bingo_wf_fail(prefix, wf, step, value)
  end
elseif kind == "end" then
  local wf, gen = string.match(ref, "^([^|]*)|?(%d*)$")
  local state, keep, why = string.match(value, "^([^|]*)|([^|]*)|(.*)$")
  keep = math.max(1, math.floor(tonumber(keep) or 86400))
  local skey = base .. "wf:" .. wf .. ":steps"
  if wf and bingo_wf_gen(base, wf, tonumber(gen)) then
    if state ~= "completed" then
      bingo_wf_stop(prefix, wf, "", why, now)
    end
    -- a failed workflow may resume (_wf_far.lua): its steps keep the home ("wfh") and
    -- its completed steps their results as long as the record
    local home = state == "failed" and redis.call("HGET", base .. "workflows:away", wf)
    for _, sid in ipairs(redis.call("LRANGE", skey, 0, -1)) do
      local f = redis.pcall("HMGET", prefix .. sid, "state", "keep")
      if f["err"] == nil and f[1] then
        redis.call("HDEL", prefix .. sid, "wfq")
        if home then
          redis.call("HSET", prefix .. sid, "wfh", home)
        elseif state == "cancelled" and f[1] ~= "completed" then  -- (never resumed)
          redis.call("HSET", prefix .. sid, "wfh", "")
        end
        if f[1] == "completed" then
          local hold = tonumber(f[2]) or 0
          redis.call("ZADD", base .. "completed", now + (home and math.max(hold, keep) or hold), sid)
        end
      end
    end
    redis.call("EXPIRE", skey, keep)
    redis.call("HDEL", base .. "workflows:away", wf)
    redis.pcall("ZREM", base .. "workflows:staged", wf)
  end
elseif kind == "resume" then  -- (ref: wf|step of queue value, retried there)
  local wf, step = string.match(ref, "^([^|]*)|(.*)$")
  local st = redis.pcall("HGET", base .. "wf:" .. wf, "state")
  if st == "failed" then
    bingo_wf_resume(prefix, wf, step, now)
  elseif st == "running" then
    bingo_relay_put(base, value .. "|one|" .. wf .. "|" .. step, bingo_wf_here(base))
  elseif st ~= "cancelled" then  -- ended otherwise, or gone: the step runs alone
    bingo_relay_put(base, value .. "|one|" .. wf .. "|" .. step, "")
  end
elseif kind == "back" or kind == "one" then
  -- back (ref: wf|failures; value: home|retried step): the home resumed the workflow;
  -- one (ref: wf|step; value: the home, "" = run it alone): the step goes back
  local wf, tail = string.match(ref, "^([^|]*)|(.*)$")
  local home, step = string.match(value, "^([^|]*)|?(.*)$")
  local skey = base .. "wf:" .. wf .. ":steps"
  if kind == "one" then
    step = tail
    local tkey = prefix .. step
    if redis.pcall("HGET", tkey, "state") == "archived" and home == "" then
      redis.call("HDEL", tkey, "wfh", "wf_held")
      redis.call("ZREM", base .. "archived", step)
      redis.call("HSET", tkey, "state", "pending")
      redis.call("LPUSH", base .. "pending", step)
      if redis.call("LLEN", base .. "notify") == 0 then
        redis.call("RPUSH", base .. "notify", "1")
      end
    elseif redis.pcall("HGET", tkey, "state") == "archived" then
      redis.call("HDEL", tkey, "wfh")
      redis.call("HSET", tkey, "wfq", home)
      redis.call("HSET", base .. "workflows:away", wf, home)
      bingo_wf_back(prefix, step, now)
    end
  elseif bingo_wf_gen(base, wf, 2 * (tonumber(tail) or 0) + 1) then
    local far = now + WF_HOLD
    local back = {}
    for _, sid in ipairs(redis.call("LRANGE", skey, 0, -1)) do
      local tkey = prefix .. sid
      local f = redis.pcall("HMGET", tkey, "state", "wf_held")
      if f["err"] == nil and f[1] then
        redis.call("HDEL", tkey, "wfh")
        redis.call("HSET", tkey, "wfq", home)
        if f[1] == "completed" then
          redis.call("ZADD", base .. "completed", far, sid)
        elseif f[1] == "archived" and (f[2] or sid == step) then
          back[#back + 1] = sid
        end
      end
    end
    for _, sid in ipairs(back) do
      bingo_wf_back(prefix, sid, now)
    end
    redis.call("PERSIST", skey)
    redis.call("HSET", base .. "workflows:away", wf, home)
  end
elseif kind == "link" then  -- (ref: id|dependent; value: the dependent's queue)
  local id, dep = string.match(ref, "^([^|]*)|(.*)$")
  local tkey = prefix .. id
  local st = redis.pcall("HGET", tkey, "state")
  if type(st) ~= "string" or st == "completed" then  -- (gone: it had completed)
    bingo_relay_put(base, value .. "|dep|" .. id .. "|" .. dep, "c")
  else
    local rq = redis.call("HGET", tkey, "relay")
    local known = false
    for q in string.gmatch(rq or "", "[^,]+") do
      known = known or q == value
    end
    if not known then
      redis.call("HSET", tkey, "relay", rq and (rq .. "," .. value) or value)
    end
    redis.call("HSETNX", tkey, "dependents", 1)  -- (keeps a "=<id>" one, _wake.lua)
  end
elseif kind == "onf" then
  local wf, id = string.match(ref, "^([^|]*)|(.*)$")
  if redis.call("SET", base .. "wf:" .. wf .. ":onf:" .. id, "1", "NX", "EX", 86400)
      and redis.call("EXISTS", prefix .. id) == 0 then
    redis.call("HSET", prefix .. id, "msg", value, "state", "pending")
    redis.call("LPUSH", base .. "pending", id)
    if redis.call("LLEN", base .. "notify") == 0 then
      redis.call("RPUSH", base .. "notify", "1")
    end
  end
end
return 1
