-- Take a person's command in: count it against their rate limit, then store it as a job unless
-- this delivery is in already, in one step (app.jobs.queue `put` with a `limit`): the ack
-- needs one round trip, and a refused command leaves no job behind.
-- KEYS[1] the stream, KEYS[2] the delivery's `seen` key, KEYS[3] the person's count for this
-- minute (app.foundations.ratelimit: under the jobs' hash tag, so all three share a cluster slot).
-- ARGV[1] seen TTL, ARGV[2] the stream's MAXLEN, ARGV[3..6] kind, who, sealed body, at (as
-- `put`), ARGV[7] the limit per minute, ARGV[8] the count's TTL.
-- Returns {count, id}: id is the new entry's, '' for a delivery already in, absent when the
-- count is over the limit (nothing stored).
local count = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[8])
if count > tonumber(ARGV[7]) then return {count} end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) == false then return {count, ''} end
return {count, redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
                          'kind', ARGV[3], 'who', ARGV[4], 'body', ARGV[5], 'at', ARGV[6])}
