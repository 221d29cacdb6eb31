-- Add a job to the stream once per delivery: a repeat of it (a resend, a double submit) adds
-- nothing while its delivery is remembered.
-- KEYS[1] the stream, KEYS[2] the delivery's seen marker
-- ARGV[1] seconds the delivery is remembered, ARGV[2] the stream's approximate MAXLEN,
-- ARGV[3] kind, ARGV[4] who, ARGV[5] the sealed body, ARGV[6] when (epoch seconds)
-- Returns the new entry's id, or false when the delivery was seen already.
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) == false then return false end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
                  'kind', ARGV[3], 'who', ARGV[4], 'body', ARGV[5], 'at', ARGV[6])
