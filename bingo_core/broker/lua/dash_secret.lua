-- dash_secret: replace the dashboard's signing secret only if it is still the one read.
-- KEYS[1] -> P:dashboard:secret  (string: the secret and the digest of the keys it serves)
-- ARGV[1] -> the value read before ("" when there was none)
-- ARGV[2] -> the value to store
-- Returns the value kept now: ARGV[2] when it replaced ARGV[1], else the value another
--   process stored in between.
local kept = redis.call("GET", KEYS[1]) or ""
if kept == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[2])
  return ARGV[2]
end
return kept
