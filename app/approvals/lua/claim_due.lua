-- Claim the reminders and escalations that are due, for the caller alone.
-- KEYS[1] the schedule (zset: "R-…:remind" | "R-…:escalate" -> due time)
-- ARGV[1] now (epoch seconds), ARGV[2] lease (seconds), ARGV[3] at most this many
-- Returns the members claimed. Each is pushed `lease` seconds ahead in the same script, so no
-- other caller claims it while it is sent; the caller removes it once sent, and one that died
-- leaves it due again when the lease passes.
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], now + lease, member)
end
return due
