-- Count one hit in a rate-limit window and read a key of the same slot, in one step
-- (app.foundations.ratelimit `hit_reading`: an ack's count and its person's language).
-- KEYS[1] the window's count, KEYS[2] the key read along.
-- ARGV[1] the count's TTL (seconds), set at its first hit only, ARGV[2] 1 to count, 0 only to read.
-- Returns {count (0 when not counted), the value read (nil when absent)}.
local count = 0
if ARGV[2] == '1' then
  count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
end
return {count, redis.call('GET', KEYS[2])}
