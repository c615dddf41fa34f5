-- Cancel a task, atomically with respect to its attempts' leases and its stream's writes.
-- KEYS[1] = its lease, KEYS[2] = its replay log, KEYS[3] = its cancellation mark (all the
-- task's: one slot). ARGV[1] = task id, ARGV[2] = now (epoch s), ARGV[3] = its live channel,
-- ARGV[4] = log TTL (s), ARGV[5] = the error event's data (JSON), ARGV[6] = how long the mark is
-- kept (s), ARGV[7] = the publish command (PUBLISH, or SPUBLISH on a cluster).
-- Returns 'finished' when the stream had already ended (nothing to cancel), 'running' when an
-- attempt holds the lease (it sees the cancellation and ends the stream itself), 'ended' when
-- no attempt runs and this script wrote the final error event (the next seq, so the log stays
-- gap-free; an attempt that starts later finds the stream ended and does not run).
local tail = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local seq, model = 0, ''
if tail[1] then
  local last = cjson.decode(tail[1][2][2])
  if last['type'] == 'complete' or last['type'] == 'error' then return 'finished' end
  seq, model = last['seq'] + 1, last['model']
end
local now = tonumber(ARGV[2])
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[6])
if redis.call('EXISTS', KEYS[1]) == 1 then return 'running' end
local event = cjson.encode({task_id = ARGV[1], seq = seq, type = 'error', model = model,
                            data = cjson.decode(ARGV[5]), ts = now})
redis.call('XADD', KEYS[2], tostring(seq + 1) .. '-0', 'e', event)
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call(ARGV[7], ARGV[3], event)
return 'ended'
