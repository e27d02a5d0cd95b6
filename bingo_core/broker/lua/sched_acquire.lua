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
-- (heal() is defined in _scheduler_heal.lua, put before this script when it is loaded.)
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
