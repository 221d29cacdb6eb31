-- Replace an open view of the demo's workspace, and bump its version, in one step.
-- KEYS[1] the views (hash: view id -> JSON), KEYS[2] the workspace's version
-- ARGV[1] the view id, ARGV[2] the new view (JSON)
-- Returns 1 when replaced, 0 when there is no such view (closed).
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
