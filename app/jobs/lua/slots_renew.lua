-- Renew the leases of running jobs, on Redis's clock in ms (as slots_acquire). XX: a lease
-- released (its job done) while this renewal was on its way stays released.
-- KEYS[1] the overall set, KEYS[i] (i >= 2) a person set
-- ARGV[1] lease ms, ARGV[i] (i >= 2) the holder in KEYS[i]
-- Returns 1.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local lease = tonumber(ARGV[1])
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', now + lease, ARGV[i]) > 0 then
    redis.call('PEXPIRE', KEYS[i], lease)
    redis.call('PEXPIRE', KEYS[1], lease)
  end
end
return 1
