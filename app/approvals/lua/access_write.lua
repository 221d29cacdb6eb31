-- Write an entry's access records and pending writes, only for the holder of the entry's lock
-- (the fence: a holder whose lease ran out records nothing, as it writes nothing to MySafe).
-- KEYS[1] the entry lock, KEYS[2] the entry's pending writes (hash), KEYS[3..] access records
--   (all on the entry's hash slot)
-- ARGV[1] the lock token, ARGV[2] TTL (seconds), ARGV[3] n: how many pending fields follow,
--   then n (field, value) pairs, then one value per record; a value "" deletes
-- Returns 'ok', or 'stale' when the lock is no longer this holder's (nothing is written).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 'stale' end
local ttl = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
for i = 0, n - 1 do
  local name, value = ARGV[4 + 2 * i], ARGV[5 + 2 * i]
  if value == '' then
    redis.call('HDEL', KEYS[2], name)
  else
    redis.call('HSET', KEYS[2], name, value)
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ttl) end
for k = 3, #KEYS do
  local value = ARGV[4 + 2 * n + k - 3]
  if value == '' then
    redis.call('DEL', KEYS[k])
  else
    redis.call('SET', KEYS[k], value, 'EX', ttl)
  end
end
return 'ok'
