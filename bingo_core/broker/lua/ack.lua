-- ack: mark leased tasks done (delete, or keep as completed with their result for their
-- retention) and release their unique locks.
-- KEYS[1] -> P:{q}:lease
-- KEYS[2] -> P:{q}:completed   (zset id -> expiry)
-- KEYS[3] -> P:{q}:processed
-- KEYS[4] -> P:{q}:processed:<date>
-- KEYS[5] -> P:{q}:t:          (task key prefix: the task hash is KEYS[5] .. id)
-- KEYS[6] -> P:{q}:limit:      (limit key prefix, see _limits.lua)
-- KEYS[7] -> P:{q}:throttled
-- KEYS[8] -> P:{q}:pending
-- KEYS[9] -> P:{q}:notify
-- KEYS[10..] -> the unique locks P:{q}:unique:<digest> of the tasks below, by index
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> worker id (only tasks this worker still holds are acked)
-- ARGV[3] -> TTL of the daily counter (seconds)
-- ARGV[4] -> "1": push a wake-up token when tasks are pending (a queue with its own limit:
--   a worker it held back waits for a slot), "0": not
-- ARGV[5] -> K, how many plain ids follow (tasks with no retention and no unique lock)
-- then K ids, then 4 values per other task: id, retention seconds, index of its unique
--   lock in KEYS (0 = none), result (JSON, "" = none)
-- A limited task's concurrency slot is freed (the next held task of its subject goes to
--   the head of pending, and an idle worker is woken).
-- A workflow step (its hash holds "wf") is counted done in its workflow (_wake.lua's
--   bingo_wf_done), its retention written in its hash ("keep", read when the workflow
--   ends), and kept, with its result, until the workflow ends.
-- Returns the ids this worker no longer held (its lease had expired and been recovered,
--   or the task key no longer holds a hash: the recoverer archives it when the lease ends).
-- Fails before any write, naming the key, when KEYS[1] or KEYS[2] holds the wrong type;
--   the counters and unique locks are best effort (a bad one is skipped).
for i = 1, 2 do
  local kind = redis.call("TYPE", KEYS[i])["ok"]
  if kind ~= "none" and kind ~= "zset" then
    return redis.error_reply("WRONGTYPE key " .. KEYS[i] .. " holds a " .. kind .. ", expected a zset")
  end
end
local prefix = KEYS[5]
dep_defer = true  -- (a waiting dependent's count-downs written once, bingo_dep_flush)
local now = tonumber(ARGV[1])
local lost = {}
local done = 0
local plain = tonumber(ARGV[5])
-- Whether this worker holds the task; a limited one's slot is freed at the end.
local freed, freed_lims = {}, {}
local wf = nil  -- the workflow of the task held() last answered for
local wk = {}  -- its waiters, dependents, wf, state, relay (passed to bingo_wake)
local acked = {}  -- (leave the lease set in one ZREM per 1,000 at the end)
local function held(tkey, id)
  -- (one HMGET for this check, the freed slot and bingo_wake)
  local w = redis.pcall("HMGET", tkey, "worker", "lim", "waiters", "dependents", "wf", "state", "relay")
  if w["err"] ~= nil or w[1] ~= ARGV[2] then
    return false
  end
  wf = w[5]
  wk = {w[3], w[4], w[5], w[6], w[7]}
  if w[2] then
    local ids = freed[w[2]]
    if ids == nil then
      ids = {}
      freed[w[2]] = ids
      freed_lims[#freed_lims + 1] = w[2]
    end
    ids[#ids + 1] = id
  end
  acked[#acked + 1] = id
  return true
end
for b = 6, 5 + plain do
  local id = ARGV[b]
  local tkey = prefix .. id
  if held(tkey, id) then
    bingo_wake(prefix, id, "c", wk)
    if wf then
      redis.call("HSET", tkey, "state", "completed", "completed_at", ARGV[1], "keep", 0)
      redis.call("ZADD", KEYS[2], bingo_wf_done(prefix, wf, id, 0, now), id)
    else
      redis.call("DEL", tkey)
    end
    done = done + 1
  else
    lost[#lost + 1] = id
  end
end
for b = 6 + plain, #ARGV, 4 do
  local id = ARGV[b]
  local tkey = prefix .. id
  if held(tkey, id) then
    bingo_wake(prefix, id, "c", wk)
    local keep = tonumber(ARGV[b + 1])
    if keep > 0 or wf then
      -- (one HSET: its state, its result if any, and a step's own retention)
      local fields = {"state", "completed", "completed_at", ARGV[1]}
      if ARGV[b + 3] ~= "" then
        fields[5], fields[6] = "result", ARGV[b + 3]
      end
      if wf then
        fields[#fields + 1] = "keep"
        fields[#fields + 1] = ARGV[b + 1]
      end
      redis.call("HSET", tkey, unpack(fields))
      local score = now + keep
      if wf then
        score = bingo_wf_done(prefix, wf, id, keep, now)
      end
      redis.call("ZADD", KEYS[2], score, id)
    else
      redis.call("DEL", tkey)
    end
    local u = tonumber(ARGV[b + 2])
    if u > 0 and redis.pcall("GET", KEYS[u]) == id then
      redis.call("DEL", KEYS[u])
    end
    done = done + 1
  else
    lost[#lost + 1] = id
  end
end
bingo_dep_flush()
bingo_wf_flush(nil)  -- (the steps counted of workflows still running)
for k = 1, #acked, 1000 do
  redis.call("ZREM", KEYS[1], unpack(acked, k, math.min(k + 999, #acked)))
end
for _, lim in ipairs(freed_lims) do
  lim_release_many(KEYS[6], KEYS[7], KEYS[8], KEYS[9], lim, freed[lim])
end
if done > 0 and ARGV[4] == "1" then
  lim_nudge(KEYS[8], KEYS[9])  -- slots freed: wake a worker a queue limit held back
end
if done > 0 then
  redis.pcall("INCRBY", KEYS[3], done)
  redis.pcall("INCRBY", KEYS[4], done)
  redis.call("EXPIRE", KEYS[4], ARGV[3])
end
return lost
