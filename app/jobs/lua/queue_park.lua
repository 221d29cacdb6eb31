-- Set a job aside: a copy (still sealed) in the dead-letter stream, the original out of the
-- pending list and the stream, in one step. Only while it is still in the stream: a second
-- reader parking it too (a take-over) adds no second copy.
-- KEYS[1] the stream, KEYS[2] the dead-letter stream, KEYS[3] the job's sent messages
-- ARGV[1] the group, ARGV[2] the job id, ARGV[3] the dead-letter stream's approximate MAXLEN,
-- ARGV[4] its TTL (seconds), ARGV[5..] the copy's field, value pairs
-- Returns 1 when parked, 0 when it was no longer in the stream.
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[3])
return 1
