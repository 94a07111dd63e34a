-- pause_migration.lua: pause or un-pause a migration (handlers leave a paused migration's
-- uploads as they are; resume re-enqueues them).
-- KEYS[1..6] the upload and migration keys (see lib.lua) (only the migration's are used)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4] '1' to pause, '0' to un-pause, ARGV[5] the reason (pausing only)
-- Returns 1 when the migration changed, 0 when it already was so (a first pause's reason is
-- kept), -1 when it does not exist.
if redis.call('EXISTS', migration_key) == 0 then return -1 end
local paused = redis.call('HGET', migration_key, 'paused') == '1'
local now = now_ms()
if ARGV[4] == '1' then
  if paused then return 0 end
  redis.call('HSET', migration_key, 'paused', '1', 'pause_reason', ARGV[5], 'paused_at', now, 'updated', now)
else
  if not paused then return 0 end
  redis.call('HSET', migration_key, 'paused', '0', 'pause_reason', '', 'updated', now)
end
settle_migration()
return 1
