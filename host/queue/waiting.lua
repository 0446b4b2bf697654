-- waiting.lua: how many queued jobs no node has taken yet.
--
-- KEYS[1]  the queue stream
-- ARGV[1]  the consumer group
--
-- Entries are deleted when acknowledged, so the stream holds the waiting
-- jobs and the taken ones (the group's pending list).
local len = redis.call('XLEN', KEYS[1])
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1])
if not ok then
  return len
end
return len - p[1]
