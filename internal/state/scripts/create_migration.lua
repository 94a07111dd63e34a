-- create_migration.lua: create a migration record with zeroed counters unless it exists.
-- KEYS[1] upload hash (unused), KEYS[2] parts hash (unused), KEYS[3] migration hash (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] events channel, ARGV[3..] field/value pairs
-- Returns 1 when created, 0 when it already existed (its fields are left alone).
if redis.call('EXISTS', migration_key) == 1 then return 0 end
local now = now_ms()
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', migration_key, unpack(fields))
redis.call('HSET', migration_key, 'sealed', 0, 'uploads_total', 0, 'uploads_completed', 0,
  'uploads_failed', 0, 'uploads_cancelled', 0, 'uploads_skipped', 0, 'uploads_started', 0,
  'bytes_total', 0, 'bytes_done', 0, 'bytes_skipped', 0, 'created', now, 'updated', now)
return 1
