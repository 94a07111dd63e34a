-- create_upload.lua: create an upload record in state `planned` and count it in its migration
-- (which it unseals: more is being enqueued).
-- KEYS[1] upload hash, KEYS[2] parts hash, KEYS[3] migration hash (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] events channel,
-- ARGV[3..] field/value pairs of the upload record (id, migration, source, bucket, key, ...)
-- Returns 1 when the upload was created, 0 when it already existed (nothing changed), and
-- -1 when the migration does not exist.
if redis.call('EXISTS', upload_key) == 1 then return 0 end
if redis.call('EXISTS', migration_key) == 0 then return -1 end
local now = now_ms()
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', upload_key, unpack(fields))
redis.call('HSET', upload_key, 'state', 'planned', 'version', 1, 'parts_done', 0, 'bytes_done', 0,
  'created', now, 'updated', now)
redis.call('HINCRBY', migration_key, 'uploads_total', 1)
local id = redis.call('HGET', upload_key, 'id')
redis.call('ZADD', uploads_index_key(), now, id)
redis.call('ZADD', live_index_key(), now, id)
-- A new upload reopens a sealed migration (a re-run that adds items): enqueueing is going on
-- again until the enqueuer seals it anew.
redis.call('HSET', migration_key, 'updated', now, 'sealed', 0)
settle_migration()
publish()
return 1
