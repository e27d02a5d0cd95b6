-- sched_release: give the leader lease up (graceful stop), only if this daemon holds it.
-- KEYS[1] -> P:{scheduler}:leader  (string: the leader's daemon id, with a TTL)
-- KEYS[2] -> P:{scheduler}:epoch   (string: the current fencing token)
-- ARGV[1] -> daemon id
-- ARGV[2] -> fencing token received at acquisition
-- Returns 1 when released, 0 when this daemon did not hold the lease.
if redis.call("GET", KEYS[1]) ~= ARGV[1] or redis.call("GET", KEYS[2]) ~= ARGV[2] then
  return 0
end
redis.call("DEL", KEYS[1])
return 1
