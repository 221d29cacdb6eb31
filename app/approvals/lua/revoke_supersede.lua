-- An approved extension takes over a running share's end: the old revoke is not run (the new
-- request's record carries its grant, written before this). A revoke already claimed is taken
-- over too, as long as it has not started writing (`revoke_write.lua`): its worker finds its
-- claim gone at its last check and writes nothing. Called while the extension holds the entry.
-- KEYS[1] the old revoke record
-- ARGV[1] the extending request's id
-- Returns 'ok', or the state it was in (a revoke writing or done stays as it is).
local r = redis.call('HMGET', KEYS[1], 'state', 'writing')
local state = r[1]
if not state then return 'missing' end
if state == 'revoking' and r[2] == '1' then return state end
if state ~= 'scheduled' and state ~= 'retrying' and state ~= 'revoking' then return state end
redis.call('HSET', KEYS[1], 'state', 'extended', 'extended_by', ARGV[1], 'lease', '',
           'lease_until', '')
redis.call('HDEL', KEYS[1], 'sealed')
return 'ok'
