-- wait_begin: where a task stands for a waiter (Client.wait, `tasks wait`); when it has not
-- ended, count one more waiter, so the script that ends it pushes a token for it to
-- KEYS[2] (see _wake.lua). Reading and counting in one script: a task cannot end between.
-- KEYS[1] -> P:{q}:t:<id> (or a workflow's record P:{q}:wf:<id>: "failed" and
--   "cancelled" answer "archived")
-- KEYS[2] -> P:{q}:wake:<id>
-- Returns {state, result, error}: state "completed" or "archived" (ended: nothing
--   written), "waiting" (not ended: counted; block on KEYS[2]), or "gone" (no task hash:
--   result is then the newest token left in KEYS[2] by a task that ended while waited
--   for, "c" completed and kept no result, "d" deleted, or "" none).
-- Fails, naming the key, when KEYS[1] is not a hash.
local kind = redis.call("TYPE", KEYS[1])["ok"]
if kind == "none" then
  local last = ""
  if redis.call("TYPE", KEYS[2])["ok"] == "list" then
    last = redis.call("LINDEX", KEYS[2], -1) or ""
  end
  return {"gone", last, ""}
end
if kind ~= "hash" then
  return redis.error_reply("WRONGTYPE key " .. KEYS[1] .. " holds a " .. kind .. ", expected a hash")
end
local f = redis.call("HMGET", KEYS[1], "state", "result", "error")
local state = f[1] or "unknown"
if state == "completed" or state == "archived" then
  return {state, f[2] or "", f[3] or ""}
elseif (state == "failed" or state == "cancelled") and string.find(KEYS[1], ":wf:", 1, true) then
  return {"archived", "", f[3] or ""}
end
redis.call("HINCRBY", KEYS[1], "waiters", 1)
return {"waiting", "", ""}
