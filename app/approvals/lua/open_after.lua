-- The next open requests after one still open (app.approvals.store `open_page`).
-- KEYS[1] the open index; ARGV[1] the id of the last request read, ARGV[2] how many.
-- Returns up to ARGV[2] (id, creation time) pairs, flat, after it in the index's order; false
-- when it is no longer in the index (closed since), for the caller to go by its position.
-- Its rank and the range after it are read in one step: a request closing between two calls
-- would shift the range by one and step over a request.
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then return false end
return redis.call('ZRANGE', KEYS[1], rank + 1, rank + tonumber(ARGV[2]), 'WITHSCORES')
