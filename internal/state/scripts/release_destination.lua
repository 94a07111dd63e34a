-- release_destination.lua: give back a destination's write lease if the caller holds it.
-- This script does not use lib.lua.
-- KEYS[1] the destination's hash (see claim_destination.lua); ARGV[1] the caller's upload ID;
-- ARGV[2] '1' when the caller is an upload of a fed (windowed) migration: then, if it is the
-- destination's newest upload, the key is dropped (see destination.go).
-- Returns 1 when released, 0 when the lease had lapsed or belongs to another upload.
local cur = redis.call('HMGET', KEYS[1], 'holder', 'newest_id')
if cur[1] ~= ARGV[1] then return 0 end
if ARGV[2] == '1' and cur[2] == ARGV[1] then
  redis.call('DEL', KEYS[1])
else
  redis.call('HDEL', KEYS[1], 'holder', 'holder_until')
end
return 1
