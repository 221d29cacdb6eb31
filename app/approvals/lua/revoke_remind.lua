-- Claim the reminder before a time-bound share ends: at most once, and only while the share
-- still runs (not revoked, extended or given up meanwhile).
-- KEYS[1] the revoke record
-- ARGV[1] now
-- Returns 'ok' (the caller sends it) or 'skip'.
local r = redis.call('HMGET', KEYS[1], 'state', 'reminded', 'remind_at', 'next')
if r[1] ~= 'scheduled' or r[2] == '1' then return 'skip' end
local now = tonumber(ARGV[1])
if (tonumber(r[3]) or 0) > now or (tonumber(r[4]) or 0) <= now then return 'skip' end
redis.call('HSET', KEYS[1], 'reminded', '1')
return 'ok'
