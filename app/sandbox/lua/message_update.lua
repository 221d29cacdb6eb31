-- Change some fields of a message the demo's workspace keeps, and bump its version, in one
-- step (the console polls the version).
-- KEYS[1] the conversation's messages (hash: ts -> JSON), KEYS[2] the workspace's version
-- ARGV[1] the message's ts, ARGV[2] the changed fields (JSON object)
-- Returns 1 when changed, 0 when there is no such message.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local message = cjson.decode(redis.call('HGET', KEYS[1], ARGV[1]))
local changes = cjson.decode(ARGV[2])
for k, v in pairs(changes) do message[k] = v end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(message))
redis.call('INCR', KEYS[2])
return 1
