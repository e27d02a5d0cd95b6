-- late_start: a rate-limited task whose worker comes to it more than half its spacing
-- after its start time (the process stalled) is given a new start time, the next free
-- one, so its late start does not crowd the starts given after it; its old time is not
-- given again.
-- KEYS[1] -> P:{q}:t:<id>     (the task hash; its lim field names its rate limit)
-- KEYS[2] -> P:{q}:limit:     (limit key prefix, see _limits.lua)
-- ARGV[1], ARGV[2] -> the queue's rate limit: tasks per period, period (0: none)
-- Returns {redis_now, wait}: Redis TIME and the wait until the new start time, in
--   microseconds; wait 0: start now (no rate limit found, or a key of the wrong type:
--   unlimited, as fetch.lua).
local t = redis.call("TIME")
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local now_us = math.floor(now * 1e6)
local keys = {}
local lim = redis.pcall("HGET", KEYS[1], "lim")
if type(lim) == "string" then
  local _, r, p, subject = lim_parse(lim)
  if r and r > 0 then
    keys[#keys + 1] = {KEYS[2] .. subject .. ":next", p / r}
  end
end
local qr, qp = tonumber(ARGV[1]) or 0, tonumber(ARGV[2]) or 0
if qr > 0 then
  keys[#keys + 1] = {KEYS[2] .. ":next", qp / qr}
end
local at = now
for _, k in ipairs(keys) do
  local v = redis.pcall("GET", k[1])
  if type(v) == "table" then
    return {now_us, 0}
  end
  at = math.max(at, tonumber(v) or 0)
end
if #keys == 0 then
  return {now_us, 0}
end
for _, k in ipairs(keys) do
  local ttl = math.ceil((at + k[2] - now) * 1000) + 1000
  redis.call("SET", k[1], string.format("%.6f", at + k[2]), "PX", ttl)
end
return {now_us, math.max(1, math.floor((at - now) * 1e6))}
