-- Append events to a task's replay log and publish them live, atomically and idempotently.
-- KEYS[1] = log stream (fleet:log:{<task_id>})
-- ARGV[1] = channel (fleet:stream:{<task_id>}, the log's slot), ARGV[2] = log TTL seconds,
-- ARGV[3] = the publish command (PUBLISH, or SPUBLISH on a cluster),
-- ARGV[4..] = pairs of (seq, event JSON), in order.
-- The stream entry id is "<seq+1>-0", so a duplicate seq (a retried publish) is refused by XADD
-- and is not published twice. Returns how many events were new.
local added = 0
for i = 4, #ARGV, 2 do
  local id = tostring(tonumber(ARGV[i]) + 1) .. '-0'
  local ok = redis.pcall('XADD', KEYS[1], id, 'e', ARGV[i + 1])
  if type(ok) ~= 'table' or not ok.err then
    redis.call(ARGV[3], ARGV[1], ARGV[i + 1])
    added = added + 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return added
