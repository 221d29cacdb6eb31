-- Count one break-glass opening for a person today, unless they already reached the limit.
-- KEYS[1] the person's counter for the day
-- ARGV[1] the limit, ARGV[2] seconds the counter lives
-- Returns the new count, or -1 (nothing counted) when the limit was already reached.
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return -1 end
n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return n
