-- The owner takes a time-bound share back now, without waiting for its end (no approval:
-- giving up access granted is always allowed).
-- KEYS[1] the revoke record
-- ARGV[1] actor (Slack ID), ARGV[2] now
-- Returns 'ok' (due now), 'not_owner', 'missing', or the state that has nothing to revoke.
local r = redis.call('HMGET', KEYS[1], 'state', 'owner')
if not r[1] then return 'missing' end
if r[2] ~= ARGV[1] then return 'not_owner' end
if r[1] ~= 'scheduled' and r[1] ~= 'retrying' then return r[1] end
redis.call('HSET', KEYS[1], 'next', ARGV[2], 'now_by', ARGV[1])
return 'ok'
