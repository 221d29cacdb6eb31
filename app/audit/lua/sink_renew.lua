-- Renew a sink's lease only while this runner still holds it.
-- KEYS[1] the sink's lease
-- ARGV[1] the lease token, ARGV[2] TTL (seconds)
-- Returns 1 when renewed, 0 when another runner holds it (or it ran out).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('EXPIRE', KEYS[1], ARGV[2])
