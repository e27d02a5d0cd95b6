-- heal: the scheduler scripts' guard, put before each sched_*.lua when it is loaded
-- (broker/scripts.py). Each check is {key, expected type[, must hold an integer]}: a key of
-- the wrong type is renamed to P:{scheduler}:malformed:<name>[:<n>] (kept) and the call
-- fails naming it, so the leader rebuilds that state. Returns nil when every key is fine.
local function heal(checks)
  local moved = {}
  for _, c in ipairs(checks) do
    local key, want = c[1], c[2]
    local kind = redis.call("TYPE", key)["ok"]
    local bad = kind ~= "none" and kind ~= want
    if not bad and c[3] and kind == "string" then
      bad = tonumber(redis.call("GET", key)) == nil
    end
    if bad then
      local base, name = string.match(key, "^(.-{scheduler}:)(.*)$")
      local aside = base .. "malformed:" .. name
      local n = 0
      while redis.call("EXISTS", aside) == 1 do
        n = n + 1
        aside = base .. "malformed:" .. name .. ":" .. n
      end
      redis.call("RENAME", key, aside)
      moved[#moved + 1] = key .. " (a " .. kind .. ", expected " .. (c[3] and "an integer" or "a " .. want) .. ") to " .. aside
    end
  end
  if #moved > 0 then
    return redis.error_reply("WRONGTYPE scheduler key renamed: " .. table.concat(moved, "; "))
  end
  return nil
end
