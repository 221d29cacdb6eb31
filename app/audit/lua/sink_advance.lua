-- Move a sink's position past what it acknowledged, only for the holder of that sink's lease and
-- only from where the pass read (a pass that outlived its lease, or raced another, writes
-- nothing: the other's position stands and the batch is delivered again, never skipped).
-- KEYS[1] the sink's position hash, KEYS[2] the sink's lease
-- ARGV[1] lease token, ARGV[2] the stream id the pass read after ("-" = the start),
-- ARGV[3] the new last stream id, ARGV[4] its seq, ARGV[5] now (epoch seconds)
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local at = redis.call('HGET', KEYS[1], 'last_id') or '-'
if at ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'last_id', ARGV[3], 'seq', ARGV[4], 'time', ARGV[5])
return 1
