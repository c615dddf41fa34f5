-- Settle a task: release its reservation and add what it actually cost.
-- KEYS[1..n-2] = ledgers of the periods the spend falls in, KEYS[n-1] = reservations,
-- KEYS[n] = reservation expiry. ARGV[1] = task id, ARGV[2] = actual amount (units),
-- ARGV[3..] = limit per ledger (-1 none), then alert thresholds in percent per ledger
-- ("80,100"), for alerting once per period and threshold.
-- Returns {spent of ledger 1, …, spent of ledger n-2, then the alerts newly crossed as
-- ledger index, threshold, used, …}.
local n = #KEYS
local res, exp = KEYS[n - 1], KEYS[n]
local record = redis.call('HGET', res, ARGV[1])
if record then
  local parts = {}
  for part in string.gmatch(record, '[^|]+') do table.insert(parts, part) end
  for i = 2, #parts do redis.call('HINCRBY', parts[i], 'reserved', -tonumber(parts[1])) end
  redis.call('HDEL', res, ARGV[1])
  redis.call('ZREM', exp, ARGV[1])
end
local amount = tonumber(ARGV[2])
local ledgers = n - 2
local fired = {}
for i = 1, ledgers do fired[i] = 0 end
for i = 1, ledgers do
  local spent = redis.call('HINCRBY', KEYS[i], 'spent', amount)
  fired[i] = spent
  redis.call('HINCRBY', KEYS[i], 'journal', amount)  -- lets a rebuild keep concurrent settles
  redis.call('PEXPIRE', KEYS[i], 40 * 24 * 3600 * 1000)
  local limit = tonumber(ARGV[2 + i])
  if limit > 0 and amount > 0 then
    for threshold in string.gmatch(ARGV[2 + ledgers + i], '[^,]+') do
      if spent * 100 >= limit * tonumber(threshold) then
        if redis.call('SET', KEYS[i] .. ':alert:' .. threshold, '1', 'NX', 'PX',
                      40 * 24 * 3600 * 1000) then
          table.insert(fired, i)
          table.insert(fired, tonumber(threshold))
          table.insert(fired, spent)
        end
      end
    end
  end
end
return fired
