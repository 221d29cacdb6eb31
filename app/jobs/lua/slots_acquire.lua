-- Take a lease on both slots of each candidate job (the overall bound and its person's), on
-- Redis's clock in ms: every consumer's leases are measured on one clock, whatever the hosts'.
-- Candidates are tried in order; each gets both slots or neither.
-- KEYS[1] the overall set, KEYS[1 + i] the person set of candidate i
-- ARGV[1] lease ms, ARGV[2] overall bound, ARGV[3] per-person bound,
-- ARGV[3 + i] candidate i's holder
-- Returns the granted holders.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local lease = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local granted = {}
for i = 2, #KEYS do
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then break end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
  if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[3]) then
    redis.call('ZADD', KEYS[1], now + lease, ARGV[i + 2])
    redis.call('ZADD', KEYS[i], now + lease, ARGV[i + 2])
    redis.call('PEXPIRE', KEYS[i], lease)
    redis.call('PEXPIRE', KEYS[1], lease)
    granted[#granted + 1] = ARGV[i + 2]
  end
end
return granted
