-- Execution leases: one live attempt per task, fleet-wide.
-- KEYS[1] = fleet:lease:<task id>; ARGV[1] = "acquire" | "renew" | "release",
-- ARGV[2] = the attempt's token, ARGV[3] = lease ms.
-- acquire: 1 when taken (free, or already this attempt's), else the holder's remaining ms
-- (negative). It also removes the task's message from the outbox (KEYS[2] hash, KEYS[3]
-- sorted set, ARGV[4] task id): a worker holds it now, so it is not lost (fleet/outbox.py).
-- renew / release: 1 when the lease was ours, 0 otherwise.
local holder = redis.call('GET', KEYS[1])
if ARGV[1] == 'acquire' then
  redis.call('HDEL', KEYS[2], ARGV[4])
  redis.call('ZREM', KEYS[3], ARGV[4])
  if not holder or holder == ARGV[2] then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
    return 1
  end
  return -math.max(redis.call('PTTL', KEYS[1]), 1)
end
if holder ~= ARGV[2] then return 0 end
if ARGV[1] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('DEL', KEYS[1])
end
return 1
