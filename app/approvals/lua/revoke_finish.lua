-- Record how a claimed revoke ended, only for the holder of its lease.
-- KEYS[1] the revoke record
-- ARGV[1] lease token, ARGV[2] outcome: done | retry, ARGV[3] next attempt (retry),
-- ARGV[4..] field, value pairs to keep (what was removed, kept, the error)
-- Returns 'ok' or 'stale' (the lease was lost: another worker holds it, or it ran out and
-- someone gave up meanwhile).
local r = redis.call('HMGET', KEYS[1], 'state', 'lease')
if r[1] ~= 'revoking' or r[2] ~= ARGV[1] then return 'stale' end
local to = ARGV[2] == 'done' and 'done' or 'retrying'
redis.call('HSET', KEYS[1], 'state', to, 'lease', '', 'lease_until', '', 'next', ARGV[3])
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
if to == 'done' then redis.call('HDEL', KEYS[1], 'sealed') end
return 'ok'
