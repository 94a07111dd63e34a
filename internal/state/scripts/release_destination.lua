-- release_destination.lua: give back the write lease of an upload of a fed (windowed)
-- migration and, when it is the destination's newest upload and no other upload ever made
-- itself known on the key, drop the destination's key (see destination.go). Uploads of other
-- migrations give their lease back with a plain HDEL.
-- This script does not use lib.lua.
-- KEYS[1] the destination's hash (see claim_destination.lua); ARGV[1] the caller's upload ID.
-- Returns 1 when the key was dropped, 0 when only the caller's lease field went.
--
-- Dropping is safe for the newest upload of an unshared key: no older upload is known that a
-- kept key would have to supersede, and while it is newest claim_destination.lua gives no
-- other upload a lease. A shared key is kept for its retention, as for any other upload.
local cur = redis.call('HMGET', KEYS[1], 'newest_id', 'shared')
if cur[1] == ARGV[1] and cur[2] ~= '1' then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HDEL', KEYS[1], 'lease:' .. ARGV[1])
return 0
