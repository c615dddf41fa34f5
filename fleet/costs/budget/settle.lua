-- Settle a task: release its reservation and add what its attempts cost, each attempt once.
-- Every key is the budget's ({fleet:budget}: one slot) and declared here.
-- KEYS[1..n-3] = ledgers of the periods the spend falls in, KEYS[n-2] = reservations,
-- KEYS[n-1] = reservation expiry, KEYS[n] = the task's settled attempts (hash: attempt ->
-- units). ARGV[1] = task id, ARGV[2] = TTL of the settled marks (ms), ARGV[3] = number of
-- attempts p, ARGV[4..3+2p] = pairs of (attempt, amount in units), then the limit per ledger
-- (-1 none), then alert thresholds in percent per ledger ("80,100"), for alerting once per
-- period and threshold (an 'alert:<threshold>' field of the ledger marks it fired).
-- An attempt already settled adds nothing: a settle whose reply was lost (Redis shut down, the
-- client retried) or that a retry repeats is counted once.
-- Returns {spent of ledger 1, …, spent of ledger n-3, then the alerts newly crossed as
-- ledger index, threshold, used, …}.
local n = #KEYS
local res, exp, marks = KEYS[n - 2], KEYS[n - 1], KEYS[n]
local declared = {}
for i = 1, n - 3 do declared[KEYS[i]] = true end
local record = redis.call('HGET', res, ARGV[1])
if record then
  local parts = {}
  for part in string.gmatch(record, '[^|]+') do table.insert(parts, part) end
  for i = 2, #parts do
    -- A ledger of a period that has closed since takes no more reservations: left as it is.
    if declared[parts[i]] then redis.call('HINCRBY', parts[i], 'reserved', -tonumber(parts[1])) end
  end
  redis.call('HDEL', res, ARGV[1])
  redis.call('ZREM', exp, ARGV[1])
end
local pairs_n = tonumber(ARGV[3])
local amount = 0
for i = 4, 3 + 2 * pairs_n, 2 do
  if redis.call('HSETNX', marks, ARGV[i], ARGV[i + 1]) == 1 then
    amount = amount + tonumber(ARGV[i + 1])
  end
end
if pairs_n > 0 then redis.call('PEXPIRE', marks, ARGV[2]) end
local base = 3 + 2 * pairs_n
local ledgers = n - 3
local fired = {}
for i = 1, ledgers do fired[i] = 0 end
for i = 1, ledgers do
  local spent = redis.call('HINCRBY', KEYS[i], 'spent', amount)
  fired[i] = spent
  redis.call('HINCRBY', KEYS[i], 'journal', amount)  -- lets a rebuild keep concurrent settles
  redis.call('PEXPIRE', KEYS[i], 40 * 24 * 3600 * 1000)
  local limit = tonumber(ARGV[base + i])
  if limit > 0 and amount > 0 then
    for threshold in string.gmatch(ARGV[base + ledgers + i], '[^,]+') do
      if spent * 100 >= limit * tonumber(threshold) then
        if redis.call('HSETNX', KEYS[i], 'alert:' .. threshold, '1') == 1 then
          table.insert(fired, i)
          table.insert(fired, tonumber(threshold))
          table.insert(fired, spent)
        end
      end
    end
  end
end
return fired
