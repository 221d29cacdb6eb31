-- Record the one verdict on a break-glass review: the first reviewer decides.
-- KEYS[1] the review record
-- ARGV[1] verdict (justified | not_justified), ARGV[2] reviewer, ARGV[3] now
-- Returns 'ok', 'missing', or the verdict already given.
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state ~= 'open' then return state end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'by', ARGV[2], 'at', ARGV[3])
return 'ok'
