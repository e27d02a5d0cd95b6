-- enqueue_fast: add tasks with generated ids, to run now, with no unique lock or dedupe
-- key (the common case of enqueue_many), to one queue.
-- KEYS[1] -> P:{q}:pending     (list)
-- KEYS[2] -> P:{q}:notify      (list of wake-up tokens)
-- KEYS[3] -> P:{q}:t:          (task key prefix: the task hash is KEYS[3] .. id)
-- ARGV: 2 values per task: id (random, 128 bits), msg (JSON)
-- Fails before any write, with an error naming the key, when the pending list or the
--   wake-up list holds the wrong type.
-- Returns the number of tasks enqueued.
for _, e in ipairs({{1, "list"}, {2, "list"}}) do
  local kind = redis.call("TYPE", KEYS[e[1]])["ok"]
  if kind ~= "none" and kind ~= e[2] then
    return redis.error_reply(
      "WRONGTYPE key " .. KEYS[e[1]] .. " holds a " .. kind .. ", expected a " .. e[2]
    )
  end
end
local prefix = KEYS[3]
local ids = {}
for b = 1, #ARGV, 2 do
  redis.call("HSET", prefix .. ARGV[b], "msg", ARGV[b + 1], "state", "pending")
  ids[#ids + 1] = ARGV[b]
  if #ids == 500 then
    redis.call("LPUSH", KEYS[1], unpack(ids))
    ids = {}
  end
end
if #ids > 0 then
  redis.call("LPUSH", KEYS[1], unpack(ids))
end
if redis.call("LLEN", KEYS[2]) == 0 then
  redis.call("RPUSH", KEYS[2], "1")
end
return #ARGV / 2
