-- An approved extension takes over a running share's end: the old revoke is not run (the new
-- request's record carries its grant, written before this).
-- KEYS[1] the old revoke record
-- ARGV[1] the extending request's id
-- Returns 'ok', or the state it was in (a revoke already running or done stays as it is).
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state ~= 'scheduled' and state ~= 'retrying' then return state end
redis.call('HSET', KEYS[1], 'state', 'extended', 'extended_by', ARGV[1])
return 'ok'
