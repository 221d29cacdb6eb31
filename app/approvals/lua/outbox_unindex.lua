-- Drop a request from the outbox index, only if no transition marked it again since the mover
-- read its score (a mark comes before the transition script that may fill the outbox).
-- KEYS[1] the outbox index, ARGV[1] request id, ARGV[2] the score the mover read
-- Returns 1 when dropped, 0 when it was marked again meanwhile (the next pass looks again).
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
