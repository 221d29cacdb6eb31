-- A message the job sends may go out only from the job's current owner while it is pending,
-- and not if it was sent already (`sent`) or this consumer claimed it already. A claim by a
-- consumer that no longer owns the job (it died, or fell silent and was taken over) is not
-- proof of a send: the new owner sends again rather than leave the person unanswered.
-- KEYS[1] the stream, KEYS[2] the job's sent messages (hash: nth -> consumer | '=sent')
-- ARGV[1] the group, ARGV[2] the job id, ARGV[3] nth message, ARGV[4] TTL (seconds),
-- ARGV[5] the consumer
-- Returns 1 when this consumer is to send it, else 0.
local entry = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)[1]
if not entry or entry[2] ~= ARGV[5] then return 0 end
local was = redis.call('HGET', KEYS[2], ARGV[3])
if was == '=sent' or was == ARGV[5] then return 0 end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
