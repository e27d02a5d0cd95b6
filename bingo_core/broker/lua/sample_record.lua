-- sample_record: append one sample of the queue sizes unless another daemon appended one
-- less than ARGV[2] seconds ago (so many daemons write one sample per interval).
-- KEYS[1] -> P:samples         (list of JSON samples, newest first)
-- ARGV[1] -> now (epoch seconds)
-- ARGV[2] -> the shortest gap between two samples (seconds)
-- ARGV[3] -> how many samples are kept
-- ARGV[4] -> the sample (JSON object with "t", its time)
-- Returns 1 appended, 0 skipped (a recent sample exists).
local now = tonumber(ARGV[1])
local last = redis.call("LINDEX", KEYS[1], 0)
if last then
  local ok, decoded = pcall(cjson.decode, last)
  if ok and type(decoded) == "table" and tonumber(decoded["t"]) then
    local t = tonumber(decoded["t"])
    if t > now - tonumber(ARGV[2]) and t <= now + tonumber(ARGV[2]) then
      return 0
    end
  end
end
redis.call("LPUSH", KEYS[1], ARGV[4])
redis.call("LTRIM", KEYS[1], 0, tonumber(ARGV[3]) - 1)
redis.call("EXPIRE", KEYS[1], math.ceil(tonumber(ARGV[2]) * tonumber(ARGV[3]) * 2))
return 1
