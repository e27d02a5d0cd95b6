-- task_move_many: the inspector's bulk actions (run now, archive, delete) on many tasks of
-- one queue, each as task_move does it for one.
-- KEYS[1] -> P:{q}:pending
-- KEYS[2] -> P:{q}:scheduled
-- KEYS[3] -> P:{q}:retry
-- KEYS[4] -> P:{q}:archived
-- KEYS[5] -> P:{q}:completed
-- KEYS[6] -> P:{q}:notify
-- KEYS[7] -> P:{q}:t:          (task key prefix: a task hash is KEYS[7] .. id)
-- KEYS[8] -> P:{q}:unique:     (unique lock prefix: a deleted task's lock is KEYS[8] .. digest)
-- ARGV[1] -> action: "run" (to pending), "archive" or "delete" (a waiting task leaves its
--   dependencies: "run" starts it without them)
-- ARGV[2] -> now (epoch seconds)
-- ARGV[3..] -> ids (at most a few hundred per call)
-- "run" on a workflow step as task_move does it (bingo_wf_run); the steps a resume put
--   back count as done when their own id comes.
-- Returns one code per id: 1 done, 0 no such task, -1 already in the target state,
--   -2 the task is active (a worker holds it), -3 a step of a cancelled workflow.
local action, now = ARGV[1], ARGV[2]
local where = {pending = 1, scheduled = 2, retry = 3, archived = 4, completed = 5}
local out = {}
local woke = false
local back = {}  -- ids a resume put back in this call
for i = 3, #ARGV do
  local id = ARGV[i]
  local tkey = KEYS[7] .. id
  local state = redis.call("HGET", tkey, "state")
  local code = 1
  local settled = back[id]
  if not settled and action == "run" then
    local r, ids = bingo_wf_run(KEYS[7], id, state, now)
    for _, b in ipairs(ids) do
      back[b] = true
    end
    settled = r ~= nil
    code = r or 1
  end
  if settled then  -- the step's workflow settled it (bingo_wf_run), or a resume put it back
  elseif not state then
    code = 0
  elseif state == "active" then
    code = -2
  elseif (action == "run" and state == "pending") or (action == "archive" and state == "archived") then
    code = -1
  else
    local from = where[state]
    if state == "completed" then  -- (its dependents were told: see _wake.lua)
      redis.call("HDEL", tkey, "dependents")
    end
    if state == "waiting" then
      bingo_unlink(KEYS[7], id)
    end
    if from == 1 then
      -- the ids of a bulk action come from the head (the right end): search from there
      redis.call("LREM", KEYS[1], -1, id)
    elseif from then
      redis.call("ZREM", KEYS[from], id)
    end
    if action == "delete" then
      local msg = redis.call("HGET", tkey, "msg")
      local ok, decoded = pcall(cjson.decode, msg or "")
      if ok and type(decoded) == "table" and type(decoded["unique_key"]) == "string" then
        local ukey = KEYS[8] .. decoded["unique_key"]
        if redis.call("GET", ukey) == id then
          redis.call("DEL", ukey)
        end
      end
      bingo_wake(KEYS[7], id, "d")
      redis.call("DEL", tkey)
    elseif action == "archive" then
      redis.call("HSET", tkey, "state", "archived", "failed_at", now)
      redis.call("ZADD", KEYS[4], now, id)
      bingo_wake(KEYS[7], id, "a")
    else
      redis.call("HSET", tkey, "state", "pending")
      redis.call("LPUSH", KEYS[1], id)
      woke = true
    end
  end
  out[#out + 1] = code
end
if woke and redis.call("LLEN", KEYS[6]) == 0 then
  redis.call("RPUSH", KEYS[6], "1")
end
return out
