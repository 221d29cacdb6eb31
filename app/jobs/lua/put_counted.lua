-- Take a person's command in: count it against their rate limit, then store it as a job unless
-- this delivery is in already, in one step (app.jobs.queue `take`): the ack needs one round
-- trip, and a refused command leaves no job behind. The key read along is the person's
-- language (app.slack.people), so the ack can word its answer without a second round trip.
-- KEYS[1] the stream, KEYS[2] the delivery's `seen` key, KEYS[3] the person's count for this
-- minute (app.foundations.ratelimit), KEYS[4] (optional) the key read along; all under the jobs' hash tag, so they
-- share a cluster slot.
-- ARGV[1] seen TTL, ARGV[2] the stream's MAXLEN, ARGV[3..6] kind, who, sealed body, at (as
-- `put`), ARGV[7] the limit per minute (0: none, nothing counted), ARGV[8] the count's TTL, set
-- at its first hit only (each later hit saves Redis a command).
-- Returns {count, read, id}: read is false (nil) when its key is absent; id is the new
-- entry's, '' for a delivery already in, and absent when the count is over the limit
-- (nothing stored).
local read = false
if #KEYS > 3 then read = redis.call('GET', KEYS[4]) end
local count = 0
local bound = tonumber(ARGV[7])
if bound > 0 then
  count = redis.call('INCR', KEYS[3])
  if count == 1 then redis.call('EXPIRE', KEYS[3], ARGV[8]) end
  if count > bound then return {count, read} end
end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1]) == false then return {count, read, ''} end
return {count, read, redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*',
                                'kind', ARGV[3], 'who', ARGV[4], 'body', ARGV[5], 'at', ARGV[6])}
