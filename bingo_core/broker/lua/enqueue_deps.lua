-- enqueue_deps: add tasks to one queue, some of which depend on other tasks of the queue
-- (the depends_on option); atomically per task. A task whose dependencies have all
-- completed goes to pending (or scheduled); one with open dependencies is "waiting": in
-- P:{q}:waiting (score: enqueued at), its hash holding "deps_open" (how many are open)
-- and "depends_on" (every dependency id, comma-joined), its id in the set
-- P:{q}:dependents:<dep> of each open dependency, whose hash gets "dependents" = 1
-- (a workflow step's one dependent in its hash, "=<id>", joins that set; _wake.lua
-- releases or archives the dependents when the dependency ends). A task with an archived
-- dependency is archived at once, naming it.
-- KEYS[1] -> P:{q}:pending     (list)
-- KEYS[2] -> P:{q}:scheduled   (zset)
-- KEYS[3] -> P:{q}:notify      (list of wake-up tokens)
-- KEYS[4] -> P:{q}:t:          (task key prefix: the task hash is KEYS[4] .. id)
-- KEYS[5] -> P:{q}:waiting     (zset id -> enqueued at)
-- KEYS[6] -> P:{q}:archived    (zset id -> archived at)
-- KEYS[7] -> P:{q}:dependents: (prefix of the dependents sets)
-- KEYS[8..] -> the unique locks P:{q}:unique:<digest> of the tasks below, by index
-- ARGV[1] -> now (epoch seconds)
-- then per task: id, msg (JSON), process_at (epoch s, 0 = now), index of its unique lock
--   in KEYS (0 = none), unique TTL (ms), lim ("" = none), n, then n dependency ids, m,
--   then m ids of dependencies in other queues: open here, their queue is told after this
--   call (dep_link.lua) and answers through the relay (_relay.lua, relay_in.lua)
-- A dependency must be a task of this queue that is still known: open (pending, active,
--   scheduled, retry, waiting), completed and retained (met) or archived. As ids must
--   exist when a task is enqueued, a cycle cannot arise.
-- Fails before any write, naming the key, when a queue key holds the wrong type; a
--   dependents set of the wrong type fails the call before that task's first write (the
--   tasks before it in the call stay enqueued).
-- Returns one value per task: 1 enqueued (pending or scheduled: every dependency had
--   completed), 2 enqueued waiting, 3 enqueued archived (a dependency was archived), 0
--   task id exists, -1 unique lock held, or the id of a dependency that does not exist (a
--   string; nothing written for that task).
local kinds = {"list", "zset", "list", "", "zset", "zset"}
for i = 1, 6 do
  local kind = redis.call("TYPE", KEYS[i])["ok"]
  if i ~= 4 and kind ~= "none" and kind ~= kinds[i] then
    return redis.error_reply("WRONGTYPE key " .. KEYS[i] .. " holds a " .. kind .. ", expected a " .. kinds[i])
  end
end
local prefix = KEYS[4]
local now = tonumber(ARGV[1])
local out = {}
local wake = false
local b = 2
while b <= #ARGV do
  local id, msg, at, u = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local ttl, lim, n = ARGV[b + 4], ARGV[b + 5], tonumber(ARGV[b + 6])
  local tkey = prefix .. id
  local deps = {}
  for k = 1, n do
    deps[k] = ARGV[b + 6 + k]
  end
  local m = tonumber(ARGV[b + 7 + n])
  local open, failed = {}, nil
  for k = 1, m do
    local dep = ARGV[b + 7 + n + k]
    deps[#deps + 1] = dep
    open[#open + 1] = dep
  end
  b = b + 8 + n + m
  local code = 1
  if redis.call("EXISTS", tkey) == 1 then
    code = 0
  else
    for k = 1, n do
      local dep = deps[k]
      local state = redis.pcall("HGET", prefix .. dep, "state")
      if type(state) ~= "string" then
        code = dep
        break
      elseif state == "archived" then
        failed = failed or dep
      elseif state ~= "completed" then
        local skey = KEYS[7] .. dep
        local kind = redis.call("TYPE", skey)["ok"]
        if kind ~= "none" and kind ~= "set" then
          return redis.error_reply("WRONGTYPE key " .. skey .. " holds a " .. kind .. ", expected a set")
        end
        open[#open + 1] = dep
      end
    end
  end
  if code == 1 and u > 0 and not redis.call("SET", KEYS[u], id, "NX", "PX", ttl) then
    code = -1
  end
  if code == 1 then
    redis.call("HSET", tkey, "msg", msg, "depends_on", table.concat(deps, ","))
    if lim ~= "" then
      redis.call("HSET", tkey, "lim", lim)
    end
    if at > now then
      redis.call("HSET", tkey, "process_at", at)
    end
    if failed then
      redis.call("HSET", tkey, "state", "archived", "failed_at", ARGV[1],
        "error", "dependency " .. failed .. " was archived")
      redis.call("ZADD", KEYS[6], ARGV[1], id)
      code = 3
    elseif #open > 0 then
      code = 2
      redis.call("HSET", tkey, "state", "waiting", "deps_open", #open)
      redis.call("ZADD", KEYS[5], ARGV[1], id)
      for k, dep in ipairs(open) do
        if k > m then
          -- (a workflow step's one dependent, "=<id>" in its hash, joins the set)
          local cur = redis.call("HGET", prefix .. dep, "dependents")
          if cur and string.sub(cur, 1, 1) == "=" then
            redis.call("SADD", KEYS[7] .. dep, string.sub(cur, 2))
          end
          if cur ~= "1" then
            redis.call("HSET", prefix .. dep, "dependents", 1)
          end
        end
        redis.call("SADD", KEYS[7] .. dep, id)
      end
    elseif at > now then
      redis.call("HSET", tkey, "state", "scheduled")
      redis.call("ZADD", KEYS[2], at, id)
      wake = true
    else
      redis.call("HSET", tkey, "state", "pending")
      redis.call("LPUSH", KEYS[1], id)
      wake = true
    end
  end
  out[#out + 1] = code
end
if wake and redis.call("LLEN", KEYS[3]) == 0 then
  redis.call("RPUSH", KEYS[3], "1")
end
return out
