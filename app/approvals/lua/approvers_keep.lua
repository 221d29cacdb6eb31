-- Keep an approver list (app.approvals.approver_lists) for at least ARGV[2] seconds from now:
-- written when absent; its TTL lengthened, never shortened, by a request that lives less.
-- KEYS[1] the list; ARGV[1] the list as JSON, ARGV[2] seconds.
-- Returns 1 when it was written, 0 when it was there.
local ttl = tonumber(ARGV[2])
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ttl) then return 1 end
if redis.call('TTL', KEYS[1]) < ttl then redis.call('EXPIRE', KEYS[1], ttl) end
return 0
