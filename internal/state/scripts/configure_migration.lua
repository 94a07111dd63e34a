-- configure_migration.lua: set a migration's controls (failure threshold, report object,
-- bandwidth cap) on an existing migration.
-- KEYS[1..6] the upload and migration keys (see lib.lua) (only the migration's are used)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel, ARGV[4..] field/value pairs
-- Returns 1, or 0 when the migration does not exist.
if redis.call('EXISTS', migration_key) == 0 then return 0 end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', migration_key, unpack(fields))
return 1
