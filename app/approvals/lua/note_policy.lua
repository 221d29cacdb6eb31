-- Note on a request made under other rules than those now in force which version is in
-- force (its message says the rules changed since). A request made before policies were
-- recorded, or under the rules in force, is left as it is.
-- KEYS[1] the request hash; ARGV[1] version in force, ARGV[2] digest in force
local made = redis.call('HGET', KEYS[1], 'policy')
if not made or made == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'policy_now', ARGV[1])
return 1
