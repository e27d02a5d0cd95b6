-- sched_publish: the leader publishes its entries (what `cron list` and the dashboard show)
-- and drops the state of entries that no longer exist. Fenced: nothing is written unless
-- this daemon still holds the lease with this token.
-- KEYS[1] -> P:{scheduler}:leader   (string: the leader's daemon id)
-- KEYS[2] -> P:{scheduler}:epoch    (string: the current fencing token)
-- KEYS[3] -> P:{scheduler}:entries  (set of entry keys)
-- KEYS[4] -> P:{scheduler}:cursors  (hash: entry key -> last tick handled)
-- then, for each published entry: P:{scheduler}:entry:<key> (hash)
-- then, for each removed entry: P:{scheduler}:entry:<key>, P:{scheduler}:history:<key>
-- ARGV[1] -> daemon id
-- ARGV[2] -> fencing token
-- ARGV[3] -> number of published entries N
-- then 3 values per published entry: entry key, info (JSON), fingerprint
-- then 1 value per removed entry: entry key
-- An entry whose fingerprint changed loses its cursor (no catch-up across an edit).
-- Returns 1 when published, 0 when the lease is not held.
-- A scheduler key of the wrong type (or an epoch that is not an integer) is renamed to
-- P:{scheduler}:malformed:<name>[:<n>] (kept), then the call fails naming it; the next
-- call starts afresh. (All of the scheduler's state is rebuilt by its leader.)
-- (heal() is defined in _scheduler_heal.lua, put before this script when it is loaded.)
local n = tonumber(ARGV[3])
local checks = {{KEYS[1], "string"}, {KEYS[2], "string", true}, {KEYS[3], "set"}, {KEYS[4], "hash"}}
for i = 1, n do
  checks[#checks + 1] = {KEYS[4 + i], "hash"}
end
local healed = heal(checks)
if healed then
  return healed
end
if redis.call("GET", KEYS[1]) ~= ARGV[1] or redis.call("GET", KEYS[2]) ~= ARGV[2] then
  return 0
end
local names = {}
for i = 1, n do
  local ekey = KEYS[4 + i]
  local b = 4 + (i - 1) * 3
  local fp = ARGV[b + 2]
  local old = redis.call("HGET", ekey, "fp")
  if old and old ~= fp then
    redis.call("HDEL", KEYS[4], ARGV[b])
  end
  redis.call("HSET", ekey, "info", ARGV[b + 1], "fp", fp)
  names[#names + 1] = ARGV[b]
  if #names == 500 then
    redis.call("SADD", KEYS[3], unpack(names))
    names = {}
  end
end
if #names > 0 then
  redis.call("SADD", KEYS[3], unpack(names))
end
local k = 5 + n
for r = 4 + n * 3, #ARGV do
  redis.call("SREM", KEYS[3], ARGV[r])
  redis.call("HDEL", KEYS[4], ARGV[r])
  redis.call("DEL", KEYS[k], KEYS[k + 1])
  k = k + 2
end
return 1
