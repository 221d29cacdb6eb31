-- Set fields on a hash only while it exists, in one step: the front's bookkeeping is never
-- written to a request (or revoke record) that is gone, where it would make a partial hash
-- with no TTL, and nothing can remove the hash between the check and the write.
-- KEYS[1] the hash; ARGV field, value, field, value, ...
-- Returns 1 when set; 0 when the hash is gone.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
