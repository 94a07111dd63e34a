-- release_destination.lua: give back the write lease of an upload of a fed (windowed)
-- migration and, when it is the destination's newest upload, drop the destination's key (see
-- destination.go). Uploads of other migrations give their lease back with a plain HDEL.
-- This script does not use lib.lua.
-- KEYS[1] the destination's hash (see claim_destination.lua); ARGV[1] the caller's upload ID.
-- Returns 1 when the key was dropped, 0 when only the caller's lease field went.
--
-- Dropping is safe for the newest upload: while it is newest, claim_destination.lua gives no
-- other upload a lease (older ones are superseded), so no other lease can be live.
if redis.call('HGET', KEYS[1], 'newest_id') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HDEL', KEYS[1], 'lease:' .. ARGV[1])
return 0
