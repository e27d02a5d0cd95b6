-- wf_cancel: cancel a running workflow (`workflows cancel`): its steps that have not
-- started are archived, those running finish, its on_failure step does not run, its
-- waiters get bingo.TaskFailed (see bingo_wf_fail in _wake.lua).
-- KEYS[1] -> P:{q}:t:          (task key prefix)
-- KEYS[2] -> P:{q}:wf:<id>     (the workflow's record)
-- ARGV[1] -> workflow id
-- Returns 1 cancelled, 0 it had ended (its state is unchanged), -1 no such workflow.
local kind = redis.call("TYPE", KEYS[2])["ok"]
if kind == "none" then
  return -1
end
if kind ~= "hash" then
  return redis.error_reply("WRONGTYPE key " .. KEYS[2] .. " holds a " .. kind .. ", expected a hash")
end
if bingo_wf_fail(KEYS[1], ARGV[1], "", "cancelled") then
  return 1
end
return 0
