-- One worker wins a due revoke: the claim is a lease on the record, taken only when the
-- revoke is due, not done, and nobody else's lease runs.
-- KEYS[1] the request hash, KEYS[2] the revoke record
-- ARGV[1] now, ARGV[2] lease token, ARGV[3] lease end (epoch seconds)
-- Returns {status, when}: claimed (when = attempt number) | later (when = next) |
--   busy (when = lease end) | wait (the apply is not recorded yet) | done | gone
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  local state = redis.call('HGET', KEYS[1], 'state')
  if state == 'applying' or state == 'approved' then return {'wait', ''} end
  return {'gone', ''}
end
local r = redis.call('HMGET', KEYS[2], 'state', 'next', 'lease_until')
if r[1] == 'done' or r[1] == 'given_up' or r[1] == 'extended' then return {'done', ''} end
if (tonumber(r[2]) or 0) > now then return {'later', r[2]} end
if r[1] == 'revoking' and (tonumber(r[3]) or 0) > now then return {'busy', r[3]} end
local state = redis.call('HGET', KEYS[1], 'state')
-- An apply still running (or taken over) could write the share again after the revoke.
if state == 'applying' or state == 'approved' then return {'wait', ''} end
local attempt = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
-- `writing` stays: a claim taken over may find its write landed, and reports it itself.
redis.call('HSET', KEYS[2], 'state', 'revoking', 'lease', ARGV[2], 'lease_until', ARGV[3])
return {'claimed', tostring(attempt)}
