-- Set a ledger's spend from PostgreSQL, keeping settles that landed while the query ran.
-- KEYS[1] = ledger, ARGV[1] = spend from PostgreSQL (units), ARGV[2] = journal value read
-- before the query. Settles after that read are added on top (at worst counted twice until
-- the next rebuild: the budget errs on the side of blocking, never of overspending).
local journal = tonumber(redis.call('HGET', KEYS[1], 'journal') or '0')
local spent = tonumber(ARGV[1]) + (journal - tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'spent', spent)
redis.call('PEXPIRE', KEYS[1], 40 * 24 * 3600 * 1000)
return spent
