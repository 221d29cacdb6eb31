-- A new pending request, unless one with this id exists.
-- KEYS[1] the request hash, KEYS[2] its events list
-- ARGV[1] the creation event (JSON), ARGV[2] TTL (seconds), ARGV[3..] field, value pairs
-- Returns 1 when created, 0 when the id was taken.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
