-- The message left and Slack answered: no later run sends it again. Only while the job's
-- record exists (a late confirmation after `done` leaves nothing behind).
-- KEYS[1] the job's sent messages (hash)
-- ARGV[1] nth message
-- Returns 1.
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], '=sent') end
return 1
