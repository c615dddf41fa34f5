-- Execution leases: one live attempt per task, fleet-wide. Every key is the task's (one slot).
-- KEYS[1] = its lease; ARGV[1] = "acquire" | "renew" | "release", ARGV[2] = the attempt's
-- token, ARGV[3] = lease ms.
-- acquire: {1, attempt number, the stream's last logged event or false, 1 if the task was
-- cancelled (KEYS[4], fleet.dispatch.cancel) else 0} when taken (free, or already this
-- attempt's), else {the holder's remaining ms}. Taking it starts an attempt: the task's attempt
-- counter (KEYS[2], expiring after ARGV[4] seconds) counts it, and the tail of its replay log
-- (KEYS[3]) says where its stream stands.
-- renew / release: 1 when the lease was ours, 0 otherwise.
local holder = redis.call('GET', KEYS[1])
if ARGV[1] == 'acquire' then
  if holder and holder ~= ARGV[2] then
    return {math.max(redis.call('PTTL', KEYS[1]), 1)}
  end
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  local attempt = redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  local tail = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
  local last = false
  if tail[1] then last = tail[1][2][2] end
  return {1, attempt, last, redis.call('EXISTS', KEYS[4])}
end
if holder ~= ARGV[2] then return 0 end
if ARGV[1] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
