-- Forget a removal whose change request could not be filed: the line is open again, unless
-- the decision kept there is no longer this one.
-- KEYS[1] the campaign's decisions hash; ARGV[1] line id, ARGV[2] the decision (JSON) to drop
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
