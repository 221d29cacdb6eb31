-- Claim the telling of a request's expiry (app.approvals.engine `tell_expired`).
-- KEYS[1] the request hash; ARGV[1] now, ARGV[2] until when the claim holds (epoch seconds)
-- `untold` is set to 0 by the transition that expires a request in the sweep and deleted
-- once its listeners were told; in between it is the time until which a teller holds it.
-- Returns 1 when this caller is to tell it: nobody has yet, and nobody is telling it now.
local untold = redis.call('HGET', KEYS[1], 'untold')
if not untold or tonumber(untold) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'untold', ARGV[2])
return 1
