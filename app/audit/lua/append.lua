-- Append one audit record with the next sequence number, in one atomic step.
-- KEYS[1] the audit stream, KEYS[2] the sequence counter (one hash slot: see app.audit.log)
-- ARGV the record's field, value pairs (never `seq`). Returns the record's sequence number.
-- XADD comes before the counter moves: a refused write (out of memory) leaves no gap.
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
redis.call('XADD', KEYS[1], '*', 'seq', seq, unpack(ARGV))
redis.call('SET', KEYS[2], seq + 1)
return seq
