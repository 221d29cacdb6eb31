-- Replace a value (a string key, or one hash field) only while it is still the old one: a
-- re-encryption racing a re-link or an unlink neither mixes keys nor brings one back.
-- KEYS[1] the key
-- ARGV[1] the hash field ('' = the key is a string; its TTL is kept), ARGV[2] the old value,
-- ARGV[3] the new value
-- Returns 1 when replaced, 0 when it was no longer the old value.
local current
if ARGV[1] == '' then current = redis.call('GET', KEYS[1])
else current = redis.call('HGET', KEYS[1], ARGV[1]) end
if current ~= ARGV[2] then return 0 end
if ARGV[1] == '' then redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
