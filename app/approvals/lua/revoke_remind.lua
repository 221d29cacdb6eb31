-- Claim the reminder before a time-bound share ends, for `lease` seconds: one worker sends it
-- at a time, and it is sent again if that worker dies before marking it sent (the index entry
-- stays until then). Only while the share still runs (not revoked, extended or given up).
-- KEYS[1] the revoke record
-- ARGV[1] now, ARGV[2] lease (seconds)
-- Returns 'ok' (the caller sends it, then marks it sent), 'held' (another worker is sending
-- it: leave it) or 'skip' (nothing to send: drop it from the index).
local r = redis.call('HMGET', KEYS[1], 'state', 'reminded', 'remind_at', 'next', 'reminding_until')
local now = tonumber(ARGV[1])
if r[1] ~= 'scheduled' or r[2] == '1' or (tonumber(r[3]) or 0) > now
   or (tonumber(r[4]) or 0) <= now then
  return 'skip'
end
if (tonumber(r[5]) or 0) > now then return 'held' end
redis.call('HSET', KEYS[1], 'reminding_until', tostring(now + tonumber(ARGV[2])))
return 'ok'
