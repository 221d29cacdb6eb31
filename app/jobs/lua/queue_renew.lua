-- Renew only what is still ours: XCLAIM alone would take back a job another consumer has
-- taken over, and two consumers would run it.
-- KEYS[1] the stream
-- ARGV[1] the group, ARGV[2] the consumer, ARGV[3..] job ids
-- Returns {kept, elsewhere}: the ids this consumer still holds (each renewed), and those
-- another consumer holds now. An id in neither is no longer pending: done.
local kept, elsewhere = {}, {}
for i = 3, #ARGV do
  local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if entry and entry[2] == ARGV[2] then
    kept[#kept + 1] = ARGV[i]
  elseif entry then
    elsewhere[#elsewhere + 1] = ARGV[i]
  end
end
if #kept > 0 then
  local claim = {'XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0}
  for _, id in ipairs(kept) do claim[#claim + 1] = id end
  claim[#claim + 1] = 'JUSTID'
  redis.call(unpack(claim))
end
return {kept, elsewhere}
