-- renew.lua: renew this node's leases on the jobs it holds.
--
-- KEYS[1]  the queue stream
-- ARGV[1]  the consumer group
-- ARGV[2]  this node's consumer name
-- ARGV[3…] entry ids held by this node
--
-- For each id still pending for this consumer, XCLAIM it to the same
-- consumer with JUSTID: its idle time starts again from 0 (and its delivery
-- count is left alone). An id pending for another consumer (it took the job
-- over) or no longer pending is not touched: it is returned, as lost. Checking
-- and claiming in one script means a lease is never taken back from the node
-- that took it over.
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p == 0 then
    lost[#lost + 1] = ARGV[i]
  else
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  end
end
return lost
