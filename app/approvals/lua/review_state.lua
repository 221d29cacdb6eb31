-- Move a review campaign to another state, only from the states allowed.
-- KEYS[1] the campaign hash; ARGV[1] the new state, ARGV[2..] the states it may leave
-- Returns 1 if moved, 0 if it was in none of them.
local state = redis.call('HGET', KEYS[1], 'state')
for i = 2, #ARGV do
  if state == ARGV[i] then
    redis.call('HSET', KEYS[1], 'state', ARGV[1])
    return 1
  end
end
return 0
