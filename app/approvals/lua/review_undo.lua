-- Forget a removal whose change request could not be filed: the line is open again (and
-- back in the index of undecided lines), unless the decision kept there is no longer this one.
-- KEYS[1] the campaign's decisions hash, KEYS[2] its index
-- ARGV[1] line id, ARGV[2] the decision (JSON) to drop, ARGV[3] the line's entry,
-- ARGV[4..] the reviewers the line is counted for
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  for i = 4, #ARGV do
    local reviewer = ARGV[i]
    redis.call('HINCRBY', KEYS[2], reviewer, 1)
    if redis.call('HINCRBY', KEYS[2], reviewer .. '|' .. ARGV[3], 1) == 1 then
      redis.call('HINCRBY', KEYS[2], reviewer .. '#', 1)
    end
  end
  return 1
end
return 0
