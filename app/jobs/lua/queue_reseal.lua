-- Re-seal a job still waiting to be read: its copy with the new body goes at the stream's
-- end and the original leaves it, in one step. A job a consumer holds (pending) is left as
-- it is: that consumer opened it already, and a copy would run it twice.
-- KEYS[1] the stream
-- ARGV[1] the group, ARGV[2] the job id, ARGV[3] the body read (sealed with the old key),
-- ARGV[4] the body sealed with the new key
-- Returns 1 when re-sealed, 0 when the job is gone, held, or its body changed meanwhile.
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])[1]
if not entry then return 0 end
if redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1] then return 0 end
local fields = entry[2]
for i = 1, #fields, 2 do
  if fields[i] == 'body' then
    if fields[i + 1] ~= ARGV[3] then return 0 end
    fields[i + 1] = ARGV[4]
  end
end
redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
