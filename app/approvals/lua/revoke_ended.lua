-- Mark a request whose time-bound share has ended, so its approval message can say so.
-- KEYS[1] the request hash
-- ARGV[1] when it ended (epoch seconds)
-- Returns 1, or 0 when the request is no longer kept (nothing is created for it).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'ended', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'version', 1)
return 1
