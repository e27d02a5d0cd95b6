-- batch_add: hold items of batched task types (see _batch.lua), cutting a batch at once
-- when a group reaches its max_size.
-- KEYS[1] -> P:{q}:pending     (list; where a cut batch goes)
-- KEYS[2] -> P:{q}:notify      (list of wake-up tokens)
-- KEYS[3] -> P:{q}:t:          (task key prefix)
-- KEYS[4] -> P:{q}:batches     (zset group -> due)
-- KEYS[5] -> P:{q}:batch:      (prefix of the groups' keys: i:<group>, m:<group>, seq)
-- KEYS[6..] -> the scheduler tick dedupe keys of the items below, referred to by index
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> G, the number of distinct (group, rule, tail) rows below
-- then 7 values per row: group, type, key value, tail of the batch task's message (its
--   type and options), max_size, max_wait (s), grace (s, 0 = none)
-- then 5 values per item: its row (1..G), payload JSON, index of its dedupe key in KEYS
--   (0 = none), dedupe TTL (ms), the item's id (the dedupe key's value)
-- Fails before any write, with an error naming the key, when the pending list, the
--   wake-up list, the batches zset or a group's list or rule holds the wrong type.
-- Returns one value per item: 1 held, or the id of the task that holds the tick (a
--   string) when its dedupe key was already set.
for _, e in ipairs({{1, "list"}, {2, "list"}, {4, "zset"}}) do
  local kind = redis.call("TYPE", KEYS[e[1]])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply(
      "WRONGTYPE key " .. KEYS[e[1]] .. " holds a " .. kind .. ", expected a " .. e[2]
    )
  end
end
local bp = KEYS[5]
local rows = {}
local first_item = 3 + 7 * tonumber(ARGV[2])
for r = 3, first_item - 1, 7 do
  rows[#rows + 1] = r
  for _, e in ipairs({{"i:", "list"}, {"m:", "hash"}}) do
    local key = bp .. e[1] .. ARGV[r]
    local kind = redis.call("TYPE", key)["ok"]
    if kind ~= "none" and kind ~= e[2] then
      return redis.error_reply(
        "WRONGTYPE key " .. key .. " holds a " .. kind .. ", expected a " .. e[2]
      )
    end
  end
end
local now = ARGV[1]
local out = {}
local written, order = {}, {}  -- group -> the row whose rule and tail it holds
local wake = false
for b = first_item, #ARGV, 5 do
  local r = rows[tonumber(ARGV[b])]
  local group = ARGV[r]
  local d = tonumber(ARGV[b + 2])
  local code = 1
  if d > 0 and not redis.call("SET", KEYS[d], ARGV[b + 4], "NX", "PX", ARGV[b + 3]) then
    code = redis.call("GET", KEYS[d]) or ""
  else
    local n = redis.call("RPUSH", bp .. "i:" .. group, now .. " " .. ARGV[b + 1])
    if written[group] == nil then
      order[#order + 1] = group
    end
    if written[group] ~= r then  -- the rule once per group and call (again when it changes)
      redis.call("HSET", bp .. "m:" .. group, "type", ARGV[r + 1], "key", ARGV[r + 2],
        "tail", ARGV[r + 3], "size", ARGV[r + 4], "wait", ARGV[r + 5], "grace", ARGV[r + 6],
        "last", now)
      written[group] = r
    end
    local size = tonumber(ARGV[r + 4])
    while n >= size do
      bingo_batch_cut(bp, group, now, KEYS[1], KEYS[3])
      wake = true
      n = n - size
    end
    if n == 1 then
      wake = true  -- a new group: the workers learn when it is due
    end
  end
  out[#out + 1] = code
end
for _, group in ipairs(order) do
  bingo_batch_due(bp, group, KEYS[4])
end
if wake and redis.call("LLEN", KEYS[2]) == 0 then
  redis.call("RPUSH", KEYS[2], "1")
end
return out
