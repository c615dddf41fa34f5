-- Circuit breaker transitions for one model, shared by every worker.
-- KEYS[1] = fleet:breakers (hash: model -> open-until, ms), KEYS[2] = fleet:breaker:fails:<model>
-- ARGV[1] = model, ARGV[2] = "failure" | "success", ARGV[3] = threshold, ARGV[4] = cooldown ms
-- Returns 1 when this call opened (or re-opened) the breaker, else 0.
if ARGV[2] == 'success' then
  redis.call('DEL', KEYS[2])
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cooldown = tonumber(ARGV[4])
local failures = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], cooldown * 10)
if failures >= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], ARGV[1], now + cooldown)
  return 1
end
return 0
