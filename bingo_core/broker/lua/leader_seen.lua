-- leader_seen: note when the current scheduler leader took the lease, as first seen.
-- KEYS[1] -> P:{scheduler}:leader        (string: the leader's daemon id)
-- KEYS[2] -> P:{scheduler}:epoch         (string: the fencing token)
-- KEYS[3] -> P:{scheduler}:leader_since  (string: JSON {"id", "epoch", "since"})
-- ARGV[1] -> now (epoch seconds)
-- Returns the JSON kept in KEYS[3] (unchanged while the same leader holds the same
--   token; a new leader or token starts a new "since"), or false when there is no leader.
local id = redis.call("GET", KEYS[1])
if not id then
  return false
end
local epoch = tonumber(redis.call("GET", KEYS[2]) or "0")
local kept = redis.call("GET", KEYS[3])
if kept then
  local ok, decoded = pcall(cjson.decode, kept)
  if ok and type(decoded) == "table" and decoded["id"] == id and tonumber(decoded["epoch"]) == epoch then
    return kept
  end
end
local value = cjson.encode({id = id, epoch = epoch, since = tonumber(ARGV[1])})
redis.call("SET", KEYS[3], value)
return value
