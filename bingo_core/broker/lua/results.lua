-- results: the kept results of tasks of one queue, in order (a workflow step's parents,
-- read by the worker before the step runs: one call for a step waiting for many).
-- KEYS -> the task hashes P:{q}:t:<id>
-- Returns each one's "result" (nil: none kept, or the key holds no hash).
local out = {}
for i, key in ipairs(KEYS) do
  local r = redis.pcall("HGET", key, "result")
  if type(r) ~= "string" then
    r = false
  end
  out[i] = r
end
return out
