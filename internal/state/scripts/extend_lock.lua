-- extend_lock.lua: extend a lock only if the caller still holds it (compare-and-pexpire).
-- This script does not use lib.lua. KEYS[1] the lock key; ARGV[1] the holder's token;
-- ARGV[2] the new time to live in milliseconds.
-- Returns 1 when extended, 0 when the lock had expired or belongs to someone else.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
