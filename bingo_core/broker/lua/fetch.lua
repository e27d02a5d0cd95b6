-- fetch: move due scheduled/retry tasks to pending, then lease up to N pending tasks.
-- KEYS[1] -> P:{q}:pending     (list; RPOP takes the head)
-- KEYS[2] -> P:{q}:lease       (zset id -> lease expiry; the active set)
-- KEYS[3] -> P:{q}:paused
-- KEYS[4] -> P:{q}:scheduled   (zset)
-- KEYS[5] -> P:{q}:retry       (zset)
-- KEYS[6] -> P:{q}:notify      (list)
-- KEYS[7] -> P:{q}:t:          (task key prefix: a task hash is KEYS[7] .. id)
-- KEYS[8] -> P:{q}:archived    (zset; where a task whose record is unusable goes)
-- KEYS[9] -> P:{q}:limit:      (limit key prefix, see _limits.lua)
-- KEYS[10] -> P:{q}:throttled  (zset lim -> when to look at its held ids again)
-- KEYS[11] -> P:{q}:batches    (zset batch group -> when it is due; see _batch.lua)
-- KEYS[12] -> P:{q}:batch:     (prefix of the batch groups' keys)
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> N, the most tasks to lease
-- ARGV[3] -> lease expiry (epoch seconds)
-- ARGV[4] -> worker id
-- ARGV[5] -> the queue's concurrency limit (0 or absent: none; worker.queueLimits)
-- ARGV[6] -> the queue's rate limit: tasks per period (0 or absent: none)
-- ARGV[7] -> the rate limit's period (seconds)
-- Limits (see _limits.lua): first the held ids of each subject whose wake-up time has
--   come go back to the head of pending, as many as its limits let start now. A popped
--   task with a lim field is leased only if its subject's limits allow it (its slot and
--   its start time are recorded); otherwise it is held back: pushed on its subject's held
--   list (not leased, not returned, not a retry) and the subject's wake-up time set. Held
--   ids do not count against N: up to N + 2000 ids are popped per call.
-- A rate limit of r per p seconds spaces starts p / r apart: a task is given the start
--   time max(now, the subject's :next) if that is at most HORIZON ahead, and :next moves
--   to that time plus p / r; the worker starts the handler no sooner (the wait returned).
-- Batches: each group of P:{q}:batches whose time has come is cut (all it holds, in
--   batches of its max_size, each one pending task) before anything is leased; the
--   earliest group left bounds next_due.
-- The queue's own limits count under the empty subject (P:{q}:limit::active, :next): a
--   queue at its limit leases nothing and its tasks stay pending (no wake-up token is
--   pushed; ack (ARGV[4]), retry and archive push one when a task ends). A task under
--   both its type's and its queue's rate limit starts at the later of the two times, and
--   both move on from there.
-- Returns {next_due, redis_now, then 5 values per id taken from pending}; next_due is the
--   earliest scheduled or retry time, limit wake-up or batch due time left ("" when
--   none), or "paused" when the queue is paused; redis_now: Redis TIME in microseconds, when it was read
--   (a limit in play), else 0.
--   A leased task gives: id, msg, retried (>= 0), wait: microseconds from redis_now until
--   its start time (the worker converts it to its own clock, broker/redis_clock.py), and
--   its spacing in microseconds (the least of its rate limits' period / N; a worker that
--   comes to it later than half that after its time asks late_start.lua for a new one);
--   both 0 unless rate-limited. An id that could not be leased
--   gives: id, reason, -1, 0, 0; its task key is missing (the id is dropped), holds no hash
--   (its value is renamed to P:{q}:malformed:<id>, kept, and the id archived with the
--   reason), or is a hash with no msg (archived with the reason).
-- Fails before any write, with an error naming the key, when KEYS[1], 2, 4, 5, 6, 8, 10
--   or 11 holds the wrong type (the caller reports it and skips this queue).
if redis.call("EXISTS", KEYS[3]) == 1 then
  return {"paused"}
end
local expected = {
  {1, "list"}, {2, "zset"}, {4, "zset"}, {5, "zset"}, {6, "list"}, {8, "zset"}, {10, "zset"},
  {11, "zset"}
}
local kinds = {}
for _, e in ipairs(expected) do
  local key = KEYS[e[1]]
  local kind = redis.call("TYPE", key)["ok"]
  kinds[e[1]] = kind
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply(
      "WRONGTYPE key " .. key .. " holds a " .. kind .. ", expected a " .. e[2]
    )
  end
end
local prefix = KEYS[7]
local now = ARGV[1]
local now_w = tonumber(now)
-- Redis TIME, read once and only when a limit is in play.
local tr = nil
local function T()
  if tr == nil then
    local t = redis.call("TIME")
    tr = tonumber(t[1]) + tonumber(t[2]) / 1e6
  end
  return tr
end
local lp, throttled = KEYS[9], KEYS[10]
-- How far ahead (s) a rate-limited task may be given its start time: the worker holds it
-- that long at most, so the spacing survives a worker that fetches a little late.
local HORIZON = 0.05
-- Whether any subject has held ids (no work for them otherwise).
local any_held = kinds[10] == "zset"

-- Count the live holders of a subject's slots (ids still leased), dropping the others
-- (a killed worker's, once its lease ran out); sets when the first of them ends.
local function lim_validate(st)
  local n, first = 0, nil
  for _, h in ipairs(redis.call("ZRANGE", st.base .. ":active", 0, -1)) do
    local upto = tonumber(redis.call("ZSCORE", KEYS[2], h))
    if upto and upto > now_w then
      n = n + 1
      if first == nil or upto < first then
        first = upto
      end
    else
      redis.call("ZREM", st.base .. ":active", h)
    end
  end
  st.validated = true
  st.cwake = first and (first - now_w + T()) or T()
  return n
end

-- How many starts a rate-limited subject may be given now: those within HORIZON.
local function lim_rate_room(st)
  local ahead = T() + HORIZON - math.max(st.next, T())
  if ahead < 0 then
    return 0
  end
  return math.min(1000, math.floor(ahead / st.iv) + 1)
end

-- The limit state of one lim field in this call (false: no usable limits). The holders
-- are only checked one by one when their count says the limit is reached.
local lims = {}
local function lim_state(lim)
  local st = lims[lim]
  if st ~= nil then
    return st
  end
  local c, r, p, subject = lim_parse(lim)
  if not c then
    lims[lim] = false
    return false
  end
  local base = lp .. subject
  st = {c = c, r = r, p = p, base = base, croom = 1, rroom = 1, held = false,
        slots = {}, iv = r > 0 and p / r or 0, next = 0, moved = false}
  -- A key of the wrong type makes these fail before any write: no limits then.
  local n = c > 0 and redis.pcall("ZCARD", base .. ":active") or 0
  local nxt = false
  if r > 0 and type(n) == "number" then
    nxt = redis.pcall("GET", base .. ":next")
  end
  if type(n) ~= "number" or type(nxt) == "table" then
    lims[lim] = false
    return false
  end
  if c > 0 then
    if n >= c then
      n = lim_validate(st)
    end
    st.croom = c - n
  end
  if r > 0 then
    st.next = tonumber(nxt) or 0
    st.rroom = lim_rate_room(st)
  end
  lims[lim] = st
  return st
end

-- Record that task id starts at `at` (Redis TIME) under the subject's limits (written by
-- lim_flush).
local function lim_take(st, id, at)
  if st.c > 0 then
    st.slots[#st.slots + 1] = ARGV[3]
    st.slots[#st.slots + 1] = id
    st.croom = st.croom - 1
  end
  if st.r > 0 then
    st.next = at + st.iv
    st.moved = true
    st.rroom = lim_rate_room(st)
  end
end

-- Write the slots and the next start time taken in this call (one command each).
local function lim_flush(st)
  lim_each("ZADD", st.base .. ":active", st.slots, 2)
  if st.moved then
    -- no use once passed: no key is left per idle key value
    local ttl = math.ceil((st.next - T()) * 1000) + 1000
    redis.call("SET", st.base .. ":next", string.format("%.6f", st.next), "PX", ttl)
  end
  st.slots, st.moved = {}, false
end

-- When the subject may start a task again (Redis TIME).
local function lim_wake(st)
  local at = T()
  lim_flush(st)
  if st.c > 0 and st.croom <= 0 then
    if not st.validated then
      st.croom = st.c - lim_validate(st)
    end
    if st.croom <= 0 then
      at = math.max(at, st.cwake)
    end
  end
  if st.r > 0 and st.rroom <= 0 then
    -- halfway into the horizon: a few starts at a time, each at its own time
    at = math.max(at, st.next - HORIZON / 2)
  end
  return at
end

local function lim_room(st)
  local room = 1000
  if st.c > 0 then
    room = math.min(room, st.croom)
  end
  if st.r > 0 then
    room = math.min(room, st.rroom)
  end
  return room
end

-- Wake the subjects whose time has come: their first held ids go to the head of pending.
local due_lims = {}
if any_held then
  due_lims = redis.call("ZRANGEBYSCORE", throttled, "-inf", T(), "LIMIT", 0, 100)
end
for _, lim in ipairs(due_lims) do
  local st = lim_state(lim)
  if not st then
    redis.call("ZREM", throttled, lim)
  else
    local heldkey = st.base .. ":held"
    for _ = 1, lim_room(st) do
      local id = redis.pcall("RPOP", heldkey)
      if type(id) ~= "string" then
        break
      end
      redis.call("RPUSH", KEYS[1], id)
    end
    if redis.pcall("LLEN", heldkey) == 0 or redis.call("TYPE", heldkey)["ok"] ~= "list" then
      redis.call("ZREM", throttled, lim)
    else
      redis.call("ZADD", throttled, lim_wake(st), lim)
    end
  end
end
local batched = kinds[11] == "zset"
if batched then
  for _, group in ipairs(redis.call("ZRANGEBYSCORE", KEYS[11], "-inf", now, "LIMIT", 0, 100)) do
    for _ = 1, 1000 do
      if not bingo_batch_cut(KEYS[12], group, now, KEYS[1], prefix) then
        break
      end
    end
    bingo_batch_due(KEYS[12], group, KEYS[11])
  end
end
for z = 4, 5 do
  local due = redis.call("ZRANGEBYSCORE", KEYS[z], "-inf", now, "LIMIT", 0, 500)
  if #due > 0 then
    for _, id in ipairs(due) do
      redis.call("LPUSH", KEYS[1], id)
      -- a task key of the wrong type (or none) is dealt with when the id is popped
      if redis.call("TYPE", prefix .. id)["ok"] == "hash" then
        redis.call("HSET", prefix .. id, "state", "pending")
      end
    end
    redis.call("ZREM", KEYS[z], unpack(due))
  end
end

-- Archive an id whose task record is unusable; returns the reason.
local function archive_bad(id, tkey, kind)
  local reason
  if kind == "hash" then
    reason = "malformed: task hash " .. tkey .. " has no msg field"
  else
    local base = string.sub(prefix, 1, -3) .. "malformed:" .. id
    local aside, n = base, 0
    while redis.call("EXISTS", aside) == 1 do
      n = n + 1
      aside = base .. ":" .. n
    end
    redis.call("RENAME", tkey, aside)
    reason = "malformed: key " .. tkey .. " held a " .. kind
      .. ", not a task hash; its value was renamed to " .. aside
  end
  redis.call("HSET", tkey, "state", "archived", "error", reason, "failed_at", now)
  redis.call("ZADD", KEYS[8], now, id)
  return reason
end

-- The limit state of a task with lim field `lim` when its limits let it start now (true:
-- no usable limits), or false after holding it back.
local function lim_admit(id, lim)
  local st = lim_state(lim)
  if not st then
    return true
  end
  if st.croom > 0 and st.rroom > 0 then
    return st
  end
  if type(redis.pcall("LPUSH", st.base .. ":held", id)) ~= "number" then
    return true  -- the held list is of the wrong type: no limits for this subject
  end
  if not st.held then
    st.held = true
    redis.call("ZADD", throttled, lim_wake(st), lim)
  end
  return false
end

local out = {"", 0}
local n = tonumber(ARGV[2])
local leased = 0
local qst, qfull = false, false
local qc, qr = tonumber(ARGV[5] or 0) or 0, tonumber(ARGV[6] or 0) or 0
if qc > 0 or qr > 0 then
  qst = lim_state(qc .. "|" .. qr .. "|" .. (ARGV[7] or 0) .. "|")
  if qst then
    n = math.min(n, math.max(0, lim_room(qst)))
    qfull = n <= 0
  end
end
for _ = 1, n + 2000 do
  if leased >= n then
    break
  end
  local id = redis.call("RPOP", KEYS[1])
  if not id then
    break
  end
  local tkey = prefix .. id
  local v = redis.pcall("HMGET", tkey, "msg", "retried", "lim", "state")
  local usable = v["err"] == nil and v[1]
  local st = true
  if usable and v[3] then
    -- a limited task: held back now, or dropped here when it was cancelled or archived
    -- while it was held back
    st = v[4] == "pending" and lim_admit(id, v[3])
  end
  if not st then
    -- nothing to return
  elseif usable then
    leased = leased + 1
    local wait, spacing = 0, 0
    if st ~= true or qst then
      -- the start time: the later of its type's and its queue's next (Redis TIME read
      -- only for a rate limit)
      local at = 0
      if st ~= true and st.r > 0 then
        at = math.max(T(), st.next)
        spacing = st.iv
      end
      if qst and qst.r > 0 then
        at = math.max(T(), at, qst.next)
        spacing = spacing > 0 and math.min(spacing, qst.iv) or qst.iv
      end
      if st ~= true then
        lim_take(st, id, at)
      end
      if qst then
        lim_take(qst, id, at)
        qfull = lim_room(qst) <= 0
      end
      if at > 0 then
        wait = math.max(1, math.floor((at - T()) * 1e6))
      end
    end
    redis.call("HSET", tkey, "state", "active", "worker", ARGV[4], "started_at", now)
    redis.call("ZADD", KEYS[2], ARGV[3], id)
    out[#out + 1] = id
    out[#out + 1] = v[1]
    out[#out + 1] = math.max(0, math.floor(tonumber(v[2]) or 0))
    out[#out + 1] = wait
    out[#out + 1] = math.floor(spacing * 1e6)
  else
    local kind = redis.call("TYPE", tkey)["ok"]
    out[#out + 1] = id
    if kind == "none" then
      out[#out + 1] = "no task record: key " .. tkey .. " does not exist"
    else
      out[#out + 1] = archive_bad(id, tkey, kind)
    end
    out[#out + 1] = -1
    out[#out + 1] = 0
    out[#out + 1] = 0
  end
end
for _, st in pairs(lims) do
  if st then
    lim_flush(st)
  end
end
if not qfull and redis.call("LLEN", KEYS[1]) > 0 and redis.call("LLEN", KEYS[6]) == 0 then
  redis.call("RPUSH", KEYS[6], "1")  -- more work: wake the next idle worker
end
local next_due = nil
for z = 4, 5 do
  local first = redis.call("ZRANGE", KEYS[z], 0, 0, "WITHSCORES")
  if first[2] and (next_due == nil or tonumber(first[2]) < next_due) then
    next_due = tonumber(first[2])
  end
end
if batched then
  local first = redis.call("ZRANGE", KEYS[11], 0, 0, "WITHSCORES")
  if first[2] and (next_due == nil or tonumber(first[2]) < next_due) then
    next_due = tonumber(first[2])
  end
end
local wake = {}
if any_held or next(lims) ~= nil then
  wake = redis.call("ZRANGE", throttled, 0, 0, "WITHSCORES")
end
if qfull then
  local at = lim_wake(qst)
  if not wake[2] or at < tonumber(wake[2]) then
    wake = {"", at}
  end
end
if wake[2] then
  local at = tonumber(wake[2]) - T() + now_w  -- Redis TIME -> the caller's clock
  if next_due == nil or at < next_due then
    next_due = at
  end
end
if next_due then
  out[1] = tostring(next_due)
end
if tr ~= nil then
  out[2] = math.floor(tr * 1e6)
end
return out
