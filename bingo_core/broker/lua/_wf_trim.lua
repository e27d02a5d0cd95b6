-- wf_trim: keep the index of a queue's workflows (P:{q}:workflows, id -> created at)
-- from growing forever (put before wf_enqueue.lua and the scripts that end a task). An
-- ended workflow's record expires after its "keep" seconds; bingo_wf_end (_wake.lua)
-- writes that time in P:{q}:workflows:ends (zset id -> when its record expires), and
-- each call drops at most WF_TRIM ids whose time has come from both zsets. A record
-- still there (the clocks of the callers differ a little) gets its real expiry; one
-- kept without expiry (resumed: _wf_resume.lua takes it out) is only taken out of ends.
local WF_TRIM = 100
local function bingo_wf_trim(base, now)
  local ends = base .. "workflows:ends"
  local ids = redis.pcall("ZRANGEBYSCORE", ends, "-inf", now, "LIMIT", 0, WF_TRIM)
  if type(ids) ~= "table" or ids["err"] ~= nil then
    return
  end
  for _, wf in ipairs(ids) do
    local ttl = redis.call("PTTL", base .. "wf:" .. wf)
    if ttl > 0 then
      redis.call("ZADD", ends, now + ttl / 1000, wf)
    else
      redis.call("ZREM", ends, wf)
      if ttl == -2 then
        redis.pcall("ZREM", base .. "workflows", wf)
      end
    end
  end
end
