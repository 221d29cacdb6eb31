-- Schedule the end of a time-bound share, once: an apply taken over after its write keeps
-- the grant the first (writing) attempt recorded.
-- KEYS[1] the revoke record (hash, on the request's slot)
-- ARGV[1] TTL (seconds), ARGV[2..] field, value pairs (must include `ends`)
-- Returns the record's `ends` (the existing one when it was already scheduled).
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HGET', KEYS[1], 'ends') end
redis.call('HSET', KEYS[1], 'state', 'scheduled', 'attempts', 0, unpack(ARGV, 2))
redis.call('HSET', KEYS[1], 'next', redis.call('HGET', KEYS[1], 'ends'))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGET', KEYS[1], 'ends')
