-- Store a signed checkpoint and the tree it closes, only for the lease's holder and only if the
-- tree is still where this pass found it (a pass that outlived its lease writes nothing).
-- KEYS[1] the tree hash, KEYS[2] the checkpoints (sorted by size), KEYS[3] the lease
-- ARGV[1] lease token, ARGV[2] the size the pass started from, ARGV[3] the new size,
-- ARGV[4] frontier nodes (hex, comma-separated), ARGV[5] stream id of the last record covered,
-- ARGV[6] the checkpoint's hash, ARGV[7] its time (epoch seconds), ARGV[8] the checkpoint (JSON)
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'size') or '0') ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'size', ARGV[3], 'nodes', ARGV[4], 'last_id', ARGV[5],
           'head', ARGV[6], 'time', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[8])
return 1
