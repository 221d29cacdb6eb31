-- A starting campaign becomes running with its lines and its index, in one step: the lines
-- and the index were written beside (staging keys); they are renamed into place only if the
-- campaign is still starting, else dropped.
-- KEYS[1] campaign hash, KEYS[2] staged lines, KEYS[3] lines, KEYS[4] staged index,
-- KEYS[5] index
-- ARGV[1] seconds the campaign is kept (to its due date and its retention)
-- Returns 1 if it is now running, 0 if it was not starting.
if redis.call('HGET', KEYS[1], 'state') ~= 'starting' then
  redis.call('DEL', KEYS[2], KEYS[4])
  return 0
end
redis.call('DEL', KEYS[3], KEYS[5])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[3]) end
if redis.call('EXISTS', KEYS[4]) == 1 then redis.call('RENAME', KEYS[4], KEYS[5]) end
redis.call('HSET', KEYS[1], 'state', 'running')
for i = 1, 5, 2 do
  if redis.call('EXISTS', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1])) end
end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
