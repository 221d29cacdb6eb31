-- Raise a passkey's signature count, only upwards: a count not above the stored one is a
-- cloned authenticator or a replay (0 and 0 is an authenticator that keeps no count).
-- KEYS[1] the person's hash; ARGV[1] credential id, ARGV[2] the new count.
-- Returns 1 when raised, 0 when the stored count is not below it (or the passkey is gone).
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local key = cjson.decode(raw)
local new = tonumber(ARGV[2])
if (new > 0 or key.sign_count > 0) and new <= key.sign_count then return 0 end
key.sign_count = new
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(key))
return 1
