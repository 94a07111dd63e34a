-- create_upload.lua: create an upload record in state `planned` and count it in its migration
-- (which it unseals: more is being enqueued).
-- KEYS[1..6] the upload and migration keys (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4..] field/value pairs of the upload record (id, migration, source, bucket, key, ...)
-- Returns 1 when the upload was created, 0 when it already existed (nothing changed) or existed
-- and its record expired (it finished in an earlier run and is still counted: not counted
-- again), and -1 when the migration does not exist.
if redis.call('EXISTS', upload_key) == 1 then return 0 end
if redis.call('EXISTS', migration_key) == 0 then return -1 end
local now = now_ms()
local fields = {}
local new_id
for i = 4, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  if ARGV[i] == 'id' then new_id = ARGV[i + 1] end
end
-- Listed in its migration but without a record: it was terminal and its record expired while
-- the migration lived on (unsealed, or reopened). The migration counted it then.
if new_id and redis.call('ZSCORE', uploads_index_key, new_id) then return 0 end
redis.call('HSET', upload_key, unpack(fields))
redis.call('HSET', upload_key, 'state', 'planned', 'version', 1, 'parts_done', 0, 'bytes_done', 0,
  'created', now, 'updated', now)
redis.call('EXPIRE', upload_key, idle_expiry)
redis.call('HINCRBY', migration_key, 'uploads_total', 1)
local id = redis.call('HGET', upload_key, 'id')
redis.call('ZADD', uploads_index_key, now, id)
redis.call('ZADD', live_index_key, now, id)
-- A new upload reopens a sealed migration (a re-run that adds items): enqueueing is going on
-- again until the enqueuer seals it anew.
redis.call('HSET', migration_key, 'updated', now, 'sealed', 0)
settle_migration()
publish()
return 1
