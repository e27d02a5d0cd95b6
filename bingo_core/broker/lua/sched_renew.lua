-- sched_renew: extend the leader lease, only while this daemon and token still hold it.
-- KEYS[1] -> P:{scheduler}:leader  (string: the leader's daemon id, with a TTL)
-- KEYS[2] -> P:{scheduler}:epoch   (string: the current fencing token)
-- ARGV[1] -> daemon id
-- ARGV[2] -> fencing token received at acquisition
-- ARGV[3] -> lease TTL (ms)
-- Returns 1 when renewed, 0 when the lease is lost (expired, or another daemon holds it).
-- A scheduler key of the wrong type (or an epoch that is not an integer) is renamed to
-- P:{scheduler}:malformed:<name>[:<n>] (kept), then the call fails naming it; the next
-- call starts afresh. (All of the scheduler's state is rebuilt by its leader.)
-- (heal() is defined in _scheduler_heal.lua, put before this script when it is loaded.)
local healed = heal({{KEYS[1], "string"}, {KEYS[2], "string", true}})
if healed then
  return healed
end
if redis.call("GET", KEYS[1]) ~= ARGV[1] or redis.call("GET", KEYS[2]) ~= ARGV[2] then
  return 0
end
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1
