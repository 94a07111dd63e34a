-- record_part.lua: record one uploaded part, idempotently.
-- KEYS[1..6] the upload and migration keys (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4] part number, ARGV[5] the part's record ("<etag>[ md5=<hex>][ …]", see tasks/partrecord.go),
-- ARGV[6] the part's length in bytes,
-- ARGV[7] the S3 upload ID the part was uploaded to, ARGV[8] the part count of the plan the part
-- belongs to (the fence: both must be the upload's current ones)
-- Returns {result, state, parts_done, parts}: result is
--   'fenced'    the part belongs to another plan (another S3 upload ID or part count): dropped
--   'recorded'  newly stored; parts done, bytes done and version went up (an event is published
--               for every part of an upload of at most 100 parts, else for every parts/100th
--               and the last)
--   'duplicate' already stored with the same record, or the same md5= (encrypted buckets give the
--               same bytes another ETag each time); nothing changed
--   'changed'   already stored with different content: the source changed, the upload is now failed
--   'state'     the upload is not uploading (completing, completed, failed, cancelled, planned)
--   'missing'   no such upload
local n, etag, length = ARGV[4], ARGV[5], num(ARGV[6])
local cur = redis.call('HMGET', upload_key, 'state', 'parts_done', 'parts', 's3_upload_id', 'id', 'migration',
  'version', 'bytes_done', 'size')
if not cur[1] then return {'missing', '', 0, 0} end
local state, done, parts = cur[1], num(cur[2]), num(cur[3])
if ARGV[7] ~= cur[4] or num(ARGV[8]) ~= parts then return {'fenced', state, done, parts} end
if state ~= 'uploading' then return {'state', state, done, parts} end
local old = redis.call('HGET', parts_key, n)
local function content(v) return string.match(v, ' md5=(%x+)') or v end
if old == etag or (old and content(old) == content(etag)) then return {'duplicate', state, done, parts} end
if old then
  redis.call('HSET', upload_key, 'error', 'source changed: part ' .. n .. ' was uploaded with ETag ' ..
    old .. ' and now has ETag ' .. etag)
  move(state, 'failed', now_ms())
  return {'changed', 'failed', done, parts}
end
-- Recorded: what move(state, state) does, from the values read above (one write per key),
-- and an event only for some parts of a large upload (about a hundred per upload).
redis.call('HSET', parts_key, n, etag)
local now = now_ms()
done = done + 1
local version, bytes_done = num(cur[7]) + 1, num(cur[8]) + length
redis.call('HSET', upload_key, 'parts_done', done, 'bytes_done', bytes_done, 'version', version, 'updated', now)
redis.call('HINCRBY', migration_key, 'bytes_done', length)
redis.call('HSET', migration_key, 'updated', now)
redis.call('ZADD', live_index_key, now, cur[5])
if redis.call('TTL', parts_key) < idle_expiry / 2 then
  -- The idle expiry restarts only when half of it has passed (or the parts hash was just
  -- created without one): one TTL per part.
  keep_alive()
end
if done == parts or parts <= 100 or done % math.ceil(parts / 100) == 0 then
  redis.call('PUBLISH', channel, cjson.encode({upload = cur[5], migration = cur[6], state = state, version = version,
    parts_done = done, parts = parts, bytes_done = bytes_done, size = num(cur[9])}))
end
return {'recorded', state, done, parts}
