-- publish.lua: number, store, apply and publish one job event, atomically.
--
-- KEYS[1]  the job hash, phasehost:job:{ID}; also the name of the live channel
-- KEYS[2]  the job's event stream, phasehost:events:{ID}
-- ARGV[1]  the event JSON up to and including '"seq":'
-- ARGV[2]  the event JSON after the seq number
-- ARGV[3]  the stage index the event touches, or -1
-- ARGV[4]  "1" when the event ends the job
-- ARGV[5]  TTL of a finished job in milliseconds, 0 for none
-- ARGV[6]  approximate MAXLEN of the stream, 0 for no trimming
-- ARGV[7]  a random id of this Publish call: the client may send the same
--          call twice (its reply lost to a dropped connection, then retried)
-- ARGV[8]  the fencing token of the run publishing, 0 for none (Store.Fence)
-- ARGV[9…] field, value pairs of the hash the event sets
--
-- Returns the event's seq, or a negative code with nothing changed:
-- -1 no such job, -2 the job has finished (a late or stale update), -3 the
-- stage index is out of range, -4 a newer run of the job has fenced this one. A repeat of the last call returns the seq it
-- was given the first time, and changes nothing.
local state = redis.call('HMGET', KEYS[1], 'status', 'nstages', 'pubid', 'seq', 'fence')
local status = state[1]
if not status then
  return -1
end
if state[3] == ARGV[7] then
  return tonumber(state[4])
end
if status == 'succeeded' or status == 'failed' or status == 'cancelled' then
  return -2
end
local fence = tonumber(ARGV[8])
if fence > 0 and fence < (tonumber(state[5]) or 0) then
  return -4
end
local stage = tonumber(ARGV[3])
if stage >= 0 and stage >= (tonumber(state[2]) or 0) then
  return -3
end

local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'pubid', ARGV[7])
if #ARGV >= 10 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 9))
end
local json = ARGV[1] .. string.format('%d', seq) .. ARGV[2]

local maxlen = tonumber(ARGV[6])
if maxlen > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, seq .. '-0', 'e', json)
else
  redis.call('XADD', KEYS[2], seq .. '-0', 'e', json)
end
redis.call('PUBLISH', KEYS[1], json)

if ARGV[4] == '1' then
  local ttl = tonumber(ARGV[5])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return seq
