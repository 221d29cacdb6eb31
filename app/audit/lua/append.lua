-- Append one audit record with the next sequence number, once per record id, in one atomic step.
-- KEYS[1] the audit stream, KEYS[2] the sequence counter, KEYS[3] the record ids appended (zset:
-- id -> until when it is remembered); one hash slot: see app.audit.log
-- ARGV[1] the record's id, ARGV[2] now (epoch seconds), ARGV[3] seconds its id is remembered,
-- ARGV[4..] the record's field, value pairs (never `seq`).
-- Returns the record's sequence number, or -1 when a record of that id is in already: an append
-- sent again (a reply the network lost, redis-py's retry, the act's own retry, a second mover of
-- an outbox) never makes a second copy while its id is remembered.
-- XADD comes before the counter moves: a refused write (out of memory) leaves no gap.
local now = tonumber(ARGV[2])
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -1 end
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('XADD', KEYS[1], '*', 'seq', seq, unpack(ARGV, 4))
redis.call('SET', KEYS[2], seq + 1)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])
return seq
