-- The last check before a revoke writes to MySafe, and the mark that it is writing: only the
-- holder of a claim with time to spare may write, and once marked, an extension can no longer
-- take over this revoke (what it writes is the revoke's to report).
-- KEYS[1] the revoke record
-- ARGV[1] lease token, ARGV[2] the claim must run past this (epoch seconds), ARGV[3] the
--   sealed new password the write sends ("" none): kept until the end is recorded, so a
--   take-over sends the same one
-- Returns 'ok' (write now) or 'stale' (the claim was lost, ran out, or was taken over).
local r = redis.call('HMGET', KEYS[1], 'state', 'lease', 'lease_until')
if r[1] ~= 'revoking' or r[2] ~= ARGV[1] then return 'stale' end
if (tonumber(r[3]) or 0) <= tonumber(ARGV[2]) then return 'stale' end
redis.call('HSET', KEYS[1], 'writing', '1')
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'sealed', ARGV[3]) end
return 'ok'
