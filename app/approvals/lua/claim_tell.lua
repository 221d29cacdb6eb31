-- Claim the telling of a request's expiry (app.approvals.engine `tell_expired`).
-- KEYS[1] the request hash; ARGV[1] now, ARGV[2] until when the claim holds (epoch seconds),
-- ARGV[3] the teller: one hand-off of the news (a job), the same when that job is run again.
-- `untold` is set to '0' by the transition that expires a request in the sweep and deleted
-- once its listeners were told; in between it is '<until>:<teller>', a teller's claim.
-- `tell_tries` counts the claims, so news no listener ever takes is given up in the end.
-- Returns 1 when this caller is to tell it: nobody has yet, and no other teller's claim runs
-- (the same teller's does when its job is taken over from a consumer that died: it goes on).
local untold = redis.call('HGET', KEYS[1], 'untold')
if not untold then return 0 end
local till, teller = string.match(untold, '^([^:]*):?(.*)$')
if tonumber(till) > tonumber(ARGV[1]) and teller ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'untold', ARGV[2] .. ':' .. ARGV[3])
redis.call('HINCRBY', KEYS[1], 'tell_tries', 1)
return 1
