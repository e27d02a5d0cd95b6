-- enqueue_fast: add tasks with generated ids, to run now, with no unique lock or dedupe
-- key (the common case of enqueue_many and of a single enqueue), to one queue.
-- KEYS[1] -> P:{q}:pending     (list)
-- KEYS[2] -> P:{q}:notify      (list of wake-up tokens)
-- KEYS[3] -> P:{q}:t:          (task key prefix: the task hash is KEYS[3] .. id)
-- ARGV: 2 values per task: id (random, 128 bits), msg (JSON)
-- Fails before any write, with an error naming the key, when the pending list or the
--   wake-up list holds the wrong type (their first commands, LLEN and LPUSH, are the
--   checks: no TYPE call on the usual path).
-- Returns the number of tasks enqueued.
local function wrong(key)
  local kind = redis.call("TYPE", key)["ok"]
  return redis.error_reply("WRONGTYPE key " .. key .. " holds a " .. kind .. ", expected a list")
end
local waiting = redis.pcall("LLEN", KEYS[2])
if type(waiting) == "table" then
  return wrong(KEYS[2])
end
local prefix = KEYS[3]
for b = 1, #ARGV, 1000 do
  local last = math.min(b + 998, #ARGV - 1)
  local ids = {}
  for i = b, last, 2 do
    ids[#ids + 1] = ARGV[i]
  end
  if b == 1 then
    if type(redis.pcall("LPUSH", KEYS[1], unpack(ids))) == "table" then
      return wrong(KEYS[1])
    end
  else
    redis.call("LPUSH", KEYS[1], unpack(ids))
  end
  for i = b, last, 2 do
    redis.call("HSET", prefix .. ARGV[i], "msg", ARGV[i + 1], "state", "pending")
  end
end
if waiting == 0 then
  redis.call("RPUSH", KEYS[2], "1")
end
return #ARGV / 2
