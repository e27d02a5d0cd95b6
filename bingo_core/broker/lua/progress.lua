-- progress: keep a running task's last reported progress (ctx.progress) in its hash.
-- KEYS[1] -> P:{q}:t:<id>
-- ARGV[1] -> worker id (written only while this worker holds the task: never after its
--   ack deleted the hash, nor over a task another worker recovered)
-- ARGV[2] -> the progress JSON
-- Returns 1 written, 0 not held.
if redis.call("TYPE", KEYS[1])["ok"] ~= "hash" or redis.call("HGET", KEYS[1], "worker") ~= ARGV[1] then
  return 0
end
redis.call("HSET", KEYS[1], "progress", ARGV[2])
return 1
