-- requeue.lua: give a held job back to the queue, at once.
--
-- KEYS[1]  the queue stream
-- ARGV[1]  the consumer group
-- ARGV[2]  this node's consumer name
-- ARGV[3]  the entry id held
-- ARGV[4]  the task JSON
--
-- When the entry is still pending for this consumer, the task is added as a
-- new entry (any node's blocked read gets it at once) and the old entry is
-- acknowledged and deleted, together. Returns the new entry id, or false
-- when the entry is not this consumer's any more (another node took it).
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then
  return false
end
local id = redis.call('XADD', KEYS[1], '*', 'task', ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
redis.call('XDEL', KEYS[1], ARGV[3])
return id
