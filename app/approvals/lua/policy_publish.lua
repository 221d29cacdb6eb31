-- Put a process's rules in force across the deployment only if their version is higher than
-- any that was ever in force (never "whoever loaded last"), then say what is in force.
-- With ARGV[4] = 'operator' (`mysafe-bot policy publish`) they are put in force whatever their
-- version, and the highest version seen is kept: the newer processes gone back from do not
-- take force again; only a version above them does.
-- KEYS[1] the in-force hash (version, digest, highest, since)
-- ARGV[1] version, ARGV[2] digest, ARGV[3] now, ARGV[4] 'operator', 'loaded' or ''
-- Returns {version, digest} in force after the call.
local r = redis.call('HMGET', KEYS[1], 'version', 'digest', 'highest')
local version = tonumber(ARGV[1])
local highest = tonumber(r[3] or r[1] or '-1')
if ARGV[4] == 'operator' then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'digest', ARGV[2], 'since', ARGV[3],
             'highest', tostring(math.max(highest, version)))
  return {ARGV[1], ARGV[2]}
end
-- ARGV[4] = 'loaded': the process has just (re)loaded a file without `version:` (version 0).
-- Among such files the one most recently loaded is in force, as long as no versioned file is.
if ARGV[4] == 'loaded' and version == 0 and (r[1] == false or tonumber(r[1]) == 0) then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'digest', ARGV[2], 'since', ARGV[3],
             'highest', tostring(math.max(highest, 0)))
  return {ARGV[1], ARGV[2]}
end
if r[1] == false or version > highest then
  redis.call('HSET', KEYS[1], 'version', ARGV[1], 'digest', ARGV[2], 'since', ARGV[3],
             'highest', ARGV[1])
  return {ARGV[1], ARGV[2]}
end
return {r[1], r[2]}
