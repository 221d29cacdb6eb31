-- One decision per line of a review campaign: the first reviewer's click wins, while the
-- campaign runs; a later one learns who decided.
-- KEYS[1] the campaign hash, KEYS[2] the campaign's decisions hash
-- ARGV[1] line id, ARGV[2] the decision (JSON)
-- Returns {status, earlier}: ok | taken (earlier = the decision that won) | closed (state)
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' then return {'closed', state or 'gone'} end
local earlier = redis.call('HGET', KEYS[2], ARGV[1])
if earlier then return {'taken', earlier} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'ok', ''}
