-- release_destination.lua: give back a destination's write lease if the caller holds it.
-- This script does not use lib.lua.
-- KEYS[1] the destination's hash (see claim_destination.lua); ARGV[1] the caller's upload ID.
-- Returns 1 when released, 0 when the lease had lapsed or belongs to another upload.
if redis.call('HGET', KEYS[1], 'holder') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'holder', 'holder_until')
  return 1
end
return 0
