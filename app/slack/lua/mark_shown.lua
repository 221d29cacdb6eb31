-- Record the version the Slack message now shows, never lowering it; for a message just
-- posted, where it is too, in the same step. Nothing is written to a request that is gone
-- (its hash would be partial, with no TTL).
-- KEYS[1] the request hash; ARGV[1] the version shown; ARGV[2], ARGV[3] (only when just
-- posted) the message's channel and ts
-- Returns 1 when recorded; 0 when the request is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] then redis.call('HSET', KEYS[1], 'channel', ARGV[2], 'ts', ARGV[3]) end
local shown = tonumber(redis.call('HGET', KEYS[1], 'shown') or '-1')
if tonumber(ARGV[1]) > shown then redis.call('HSET', KEYS[1], 'shown', ARGV[1]) end
return 1
