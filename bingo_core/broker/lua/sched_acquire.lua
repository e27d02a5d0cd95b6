-- sched_acquire: try to become the scheduler leader (fenced lease).
-- KEYS[1] -> P:{scheduler}:leader  (string: the leader's daemon id, with a TTL)
-- KEYS[2] -> P:{scheduler}:epoch   (string: the fencing token, INCR at each acquisition)
-- ARGV[1] -> daemon id
-- ARGV[2] -> lease TTL (ms)
-- Returns {1, token} when this daemon holds the lease (a new token when it was free;
--   the current token when this daemon already held it), else {0, ms until the held
--   lease expires (-1 / -2 as PTTL reports them)}.
-- A scheduler key of the wrong type (or an epoch that is not an integer) is renamed to
-- P:{scheduler}:malformed:<name>[:<n>] (kept), then the call fails naming it; the next
-- call starts afresh. (All of the scheduler's state is rebuilt by its leader.)
local function heal(checks)
  local moved = {}
  for _, c in ipairs(checks) do
    local key, want = c[1], c[2]
    local kind = redis.call("TYPE", key)["ok"]
    local bad = kind ~= "none" and kind ~= want
    if not bad and c[3] and kind == "string" then
      bad = tonumber(redis.call("GET", key)) == nil
    end
    if bad then
      local base, name = string.match(key, "^(.-{scheduler}:)(.*)$")
      local aside = base .. "malformed:" .. name
      local n = 0
      while redis.call("EXISTS", aside) == 1 do
        n = n + 1
        aside = base .. "malformed:" .. name .. ":" .. n
      end
      redis.call("RENAME", key, aside)
      moved[#moved + 1] = key .. " (a " .. kind .. ", expected " .. (c[3] and "an integer" or "a " .. want) .. ") to " .. aside
    end
  end
  if #moved > 0 then
    return redis.error_reply("WRONGTYPE scheduler key renamed: " .. table.concat(moved, "; "))
  end
  return nil
end
local healed = heal({{KEYS[1], "string"}, {KEYS[2], "string", true}})
if healed then
  return healed
end
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  return {1, redis.call("INCR", KEYS[2])}
end
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return {1, tonumber(redis.call("GET", KEYS[2]) or "0")}
end
return {0, redis.call("PTTL", KEYS[1])}
