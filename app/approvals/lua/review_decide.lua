-- One decision per line of a review campaign: the first reviewer's click wins, while the
-- campaign runs; a later one learns who decided. The line leaves the index of undecided
-- lines of each reviewer it was counted for.
-- KEYS[1] the campaign hash, KEYS[2] the campaign's decisions hash, KEYS[3] its index
-- ARGV[1] line id, ARGV[2] the decision (JSON), ARGV[3] the line's entry,
-- ARGV[4..] the reviewers the line is counted for
-- Returns {status, earlier}: ok | taken (earlier = the decision that won) | closed (state)
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'running' then return {'closed', state or 'gone'} end
local earlier = redis.call('HGET', KEYS[2], ARGV[1])
if earlier then return {'taken', earlier} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for i = 4, #ARGV do
  local reviewer = ARGV[i]
  redis.call('HINCRBY', KEYS[3], reviewer, -1)
  if redis.call('HINCRBY', KEYS[3], reviewer .. '|' .. ARGV[3], -1) <= 0 then
    redis.call('HDEL', KEYS[3], reviewer .. '|' .. ARGV[3])
    redis.call('HINCRBY', KEYS[3], reviewer .. '#', -1)
  end
end
return {'ok', ''}
