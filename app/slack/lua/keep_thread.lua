-- Keep where a time-bound share's approval message is on its revoke record, which outlives
-- the request: the notices of the share's end are threaded there.
-- KEYS[1] the request hash; KEYS[2] its revoke record (both on the request's slot)
-- Returns 1 when kept; 0 when the record is gone or the message was never posted.
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local where = redis.call('HMGET', KEYS[1], 'channel', 'ts')
if not where[1] or not where[2] or where[2] == '' then return 0 end
redis.call('HSET', KEYS[2], 'channel', where[1], 'ts', where[2])
return 1
