-- wf_void: the sweep of staged workflow parts (staging.py) asks the home queue whether a
-- workflow's record exists. When it does not, the id is voided (P:{q}:wf:<id>:void, a
-- string kept ARGV[1] seconds): a home call still under way is refused by wf_enqueue.lua
-- as a duplicate, so the record can never appear after its parts were deleted.
-- KEYS[1] -> P:{q}:wf:<id>       (the record)
-- KEYS[2] -> P:{q}:wf:<id>:void
-- ARGV[1] -> how long the void mark is kept (seconds)
-- Returns 1 the record exists, 0 it does not (the id is void now).
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 1
end
redis.call("SET", KEYS[2], "1", "EX", math.max(1, math.floor(tonumber(ARGV[1]) or 86400)))
return 0
