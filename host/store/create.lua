-- create.lua: create a job hash unless it exists (HSETNX for a whole hash).
--
-- KEYS[1]  the job hash, phasehost:job:{ID}
-- ARGV     field, value pairs of the initial state
--
-- Returns 1 when created, 0 when the job already exists.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
