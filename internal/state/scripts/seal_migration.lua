-- seal_migration.lua: mark a migration as fully enqueued; from now on it expires once every
-- upload in it is terminal.
-- KEYS[1..6] the upload and migration keys (see lib.lua) (only the migration's are used)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel
-- Returns 1, or 0 when the migration does not exist.
if redis.call('EXISTS', migration_key) == 0 then return 0 end
redis.call('HSET', migration_key, 'sealed', 1, 'updated', now_ms())
settle_migration()
return 1
