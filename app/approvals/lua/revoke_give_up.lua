-- An approver stops the retries of a revoke that keeps failing (it stays on record).
-- KEYS[1] the revoke record
-- ARGV[1] actor, ARGV[2] now
-- Returns 'ok', or the state it was in when there was nothing to give up.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state ~= 'retrying' then return state end
redis.call('HSET', KEYS[1], 'state', 'given_up', 'given_up_by', ARGV[1], 'given_up_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'sealed')
return 'ok'
