-- Record the version the Slack message now shows, never lowering it.
-- KEYS[1] the request hash; ARGV[1] the version shown
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local shown = tonumber(redis.call('HGET', KEYS[1], 'shown') or '-1')
if tonumber(ARGV[1]) > shown then redis.call('HSET', KEYS[1], 'shown', ARGV[1]) end
return 1
