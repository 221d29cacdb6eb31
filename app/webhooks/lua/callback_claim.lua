-- Claim a due delivery: push its due time ahead, only if it is still due (one claimant).
-- KEYS[1] the deliveries (zset: delivery -> due time)
-- ARGV[1] the delivery, ARGV[2] now, ARGV[3] until when the claim holds (epoch seconds)
-- Returns 1 when this caller claimed it, else 0.
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
