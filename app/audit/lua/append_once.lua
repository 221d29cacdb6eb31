-- Append one record moved from a request's outbox, once per transition id, with the next
-- sequence number, in one atomic step (the log's keys share one hash slot: see app.audit.log).
-- KEYS[1] the audit stream, KEYS[2] the sequence counter, KEYS[3] the moved ids (zset:
-- transition id -> when moved)
-- ARGV[1] transition id, ARGV[2] now (epoch seconds), ARGV[3] seconds an id is remembered
-- (a week: see app.approvals.outbox), ARGV[4..] the record's field, value pairs (never `seq`).
-- Returns the record's sequence number, or -1 when that transition's record is already in.
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -1 end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('XADD', KEYS[1], '*', 'seq', seq, unpack(ARGV, 4))
redis.call('SET', KEYS[2], seq + 1)
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
return seq
