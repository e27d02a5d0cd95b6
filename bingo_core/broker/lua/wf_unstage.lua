-- wf_unstage: delete this queue's staged part of a workflow whose record never appeared
-- in its home queue (wf_void.lua answered 0 there). Only a part still staged (its id in
-- P:{q}:workflows:staged) is touched, and only its steps still waiting: none of them can
-- have started, as the first wait for the workflow id that only the home's call opens.
-- KEYS[1] -> P:{q}:t:   (task key prefix; every other key derives from it)
-- ARGV[1] -> the workflow id
-- Returns how many steps were deleted, -1 when the part is no longer staged.
local prefix, wf = KEYS[1], ARGV[1]
local base = string.sub(prefix, 1, -3)
if redis.call("ZREM", base .. "workflows:staged", wf) == 0 then
  return -1
end
local skey = base .. "wf:" .. wf .. ":steps"
local n = 0
for _, sid in ipairs(redis.call("LRANGE", skey, 0, -1)) do
  local tkey = prefix .. sid
  local f = redis.pcall("HMGET", tkey, "state", "depends_on", "wf")
  if f["err"] == nil and f[1] == "waiting" and f[3] == wf then
    redis.call("ZREM", base .. "waiting", sid)
    for dep in string.gmatch(f[2] or "", "[^,]+") do
      redis.pcall("SREM", base .. "dependents:" .. dep, sid)
    end
    redis.call("DEL", tkey, base .. "dependents:" .. sid)
    n = n + 1
  end
end
redis.call("DEL", skey, base .. "dependents:" .. wf)
redis.call("HDEL", base .. "workflows:away", wf)
return n
