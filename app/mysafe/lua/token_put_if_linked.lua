-- Cache a token only while the person is still linked with the key that fetched it: a token
-- fetched by a call that raced `/mysafe logout` is never kept for someone no longer linked.
-- KEYS[1] the person's account (hash with `client_id`), KEYS[2] the token's cache key
-- ARGV[1] the client id that fetched it, ARGV[2] the sealed token, ARGV[3] TTL (seconds)
-- Returns 1 when cached, 0 when the person is no longer linked with that key.
if redis.call('HGET', KEYS[1], 'client_id') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
