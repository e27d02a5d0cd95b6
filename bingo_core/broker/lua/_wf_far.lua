-- wf_far: resuming a failed workflow whose steps live in several queues (put after
-- _wake.lua, before _wf_resume.lua). The home keeps the record; each other queue X holds a
-- part (P:{X}:wf:<id>:steps). When the workflow fails, the "end" relay tells each part:
-- its steps that had not started are archived, marked "wf_held", and each step's "wfq"
-- (the home) becomes "wfh" (the home of a failed workflow). Retrying an archived step:
-- - in the home: bingo_wf_resume resumes the record and, per other queue, writes a "back"
--   relay (ref <wf>|<failures>, value <home>|<retried id>);
-- - in another queue (its step holds "wfh"): a "resume" relay to the home (ref
--   <wf>|<step>, value this queue), which resumes the record the same way, or, when the
--   workflow already runs again, answers "one" (that step goes back alone); the step stays
--   archived until then.
-- A "back" relay puts back the part's held steps and the retried one (bingo_wf_back):
-- their parents of other queues are linked again through a "link" relay to the parent's
-- queue, which answers "dep" c at once for a completed (or gone) parent and otherwise
-- adds this queue to the parent's "relay" field; so a step never starts before every
-- parent completed. Each part applies the home's "end" and "back" relays in failure
-- order, whatever order they are delivered in: P:{X}:wf:<id>:gen holds the last applied
-- generation (a failure n's end 2n, its resume 2n + 1, an end after n failures without a
-- new one 2n + 2), and an older one is skipped.
local WF_GEN_KEEP = 7 * 86400
-- The queue of this queue's key base P:{q}: (its name between the braces).
local function bingo_wf_here(base)
  return string.match(base, "{(.*)}") or ""
end
-- The queue of parent dep of step skey when it is in another queue (its message names it
-- "<dep>@<queue>" in "parents"), else nil.
local function bingo_wf_far_parent(skey, dep)
  local ok, m = pcall(cjson.decode, redis.call("HGET", skey, "msg") or "")
  if not ok or type(m) ~= "table" or type(m["parents"]) ~= "table" then
    return nil
  end
  for _, p in ipairs(m["parents"]) do
    if type(p) == "string" and string.sub(p, 1, #dep + 1) == dep .. "@" then
      return string.sub(p, #dep + 2)
    end
  end
  return nil
end
-- Whether the part of workflow wf in this queue applies a relay of generation g (and
-- records it); a relay without a generation (nil) always applies.
local function bingo_wf_gen(base, wf, g)
  if not g then
    return true
  end
  local gkey = base .. "wf:" .. wf .. ":gen"
  if (tonumber(redis.pcall("GET", gkey)) or -1) >= g then
    return false
  end
  redis.call("SET", gkey, g, "EX", WF_GEN_KEEP)
  return true
end
-- The home resumed workflow wf (record wkey) after retrying step id: how many steps of
-- other queues count done (the record's d:<step>), and a "back" relay to each other queue.
local function bingo_wf_far_resumed(prefix, wf, id)
  local base = string.sub(prefix, 1, -3)
  local wkey = base .. "wf:" .. wf
  local g = redis.call("HMGET", wkey, "queues", "failures")
  if not g[1] then
    return 0
  end
  local done = 0
  for _, k in ipairs(redis.call("HKEYS", wkey)) do
    if string.sub(k, 1, 2) == "d:" then
      done = done + 1
    end
  end
  local home = bingo_wf_here(base)
  for q in string.gmatch(g[1], "[^,]+") do
    bingo_relay_put(base, q .. "|back|" .. wf .. "|" .. (g[2] or "0"), home .. "|" .. id)
  end
  return done
end
-- Archived step id of workflow wf is retried in a queue that is not the home. Returns nil
-- when the step is no cross-queue concern; 1 when the home is asked to resume (the step
-- stays archived until its "back" or "one" relay comes); "back" when the workflow runs
-- (the caller puts the step back in this queue); -3 when it was cancelled ("wfh" = "",
-- set by the "end" relay of a cancelled workflow): it is not resumed.
local function bingo_wf_far_ask(prefix, wf, id)
  local f = redis.call("HMGET", prefix .. id, "wfq", "wfh")
  if f[1] then
    return "back"
  end
  if not f[2] then
    return nil
  end
  if f[2] == "" then  -- its workflow was cancelled
    return -3
  end
  local base = string.sub(prefix, 1, -3)
  bingo_relay_put(base, f[2] .. "|resume|" .. wf .. "|" .. id, bingo_wf_here(base))
  return 1
end
