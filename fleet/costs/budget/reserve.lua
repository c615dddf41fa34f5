-- Reserve a task's estimated cost against every budget period at once, or refuse.
-- Every key is the budget's ({fleet:budget}: one slot) and declared here.
-- KEYS[1..n-2] = period ledgers (hash: spent, reserved; integer units of 1e-8 USD)
-- KEYS[n-1] = reservations (hash: task id -> "amount|ledger1|ledger2|…")
-- KEYS[n]   = reservation expiry (zset: task id -> expires at, ms)
-- ARGV[1] = task id, ARGV[2] = amount, ARGV[3] = now ms, ARGV[4] = ttl ms,
-- ARGV[5..] = limit per ledger (-1 = no limit)
-- Returns {1} reserved (or already reserved), or {0, index of the ledger that refused, used}.
local n = #KEYS
local res, exp = KEYS[n - 1], KEYS[n]
local now = tonumber(ARGV[3])

local declared = {}
for i = 1, n - 2 do declared[KEYS[i]] = true end

-- Reservations of tasks that died expire here, so they can never block the budget forever.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', exp, '-inf', now)) do
  local record = redis.call('HGET', res, id)
  if record then
    local parts = {}
    for part in string.gmatch(record, '[^|]+') do table.insert(parts, part) end
    for i = 2, #parts do
      -- Only the ledgers declared here: a period that has closed takes no more reservations.
      if declared[parts[i]] then
        redis.call('HINCRBY', parts[i], 'reserved', -tonumber(parts[1]))
      end
    end
    redis.call('HDEL', res, id)
  end
  redis.call('ZREM', exp, id)
end

if redis.call('HEXISTS', res, ARGV[1]) == 1 then return {1} end  -- a redelivered dispatch

local amount = tonumber(ARGV[2])
for i = 1, n - 2 do
  local limit = tonumber(ARGV[4 + i])
  if limit >= 0 then
    local used = tonumber(redis.call('HGET', KEYS[i], 'spent') or '0')
               + tonumber(redis.call('HGET', KEYS[i], 'reserved') or '0')
    if used + amount > limit then return {0, i, used} end
  end
end

local record = ARGV[2]
for i = 1, n - 2 do
  redis.call('HINCRBY', KEYS[i], 'reserved', amount)
  redis.call('PEXPIRE', KEYS[i], 40 * 24 * 3600 * 1000)  -- past the longest period
  record = record .. '|' .. KEYS[i]
end
redis.call('HSET', res, ARGV[1], record)
redis.call('ZADD', exp, now + tonumber(ARGV[4]), ARGV[1])
return {1}
