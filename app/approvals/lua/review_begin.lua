-- Make a starting review campaign: its hash, unless the name is taken (by any state).
-- KEYS[1] the campaign hash
-- ARGV[1] seconds it lives while starting, ARGV[2..] field, value, field, value, ...
-- Returns 1 if made, 0 if the name was taken: of several processes, exactly one wins.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
