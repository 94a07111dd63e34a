-- complete_batch.lua: record, in one script, the completion of uploads of one migration that
-- went as one PutObject each in an upload:batch task: for each, what transition.lua does for
-- planned → completed (CAS on the version read when the batch started), with the migration's
-- counters and expiry settled once for the batch.
-- KEYS[1..8] the upload and migration keys of the first upload (see lib.lua), KEYS[9..] the
-- upload hashes of the others (all of the same migration), in the order of ARGV's items
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4..] five values per upload: the version read, size, fingerprint, part size, ETag
-- Returns one {result, state, version} per upload, like transition.lua: 'ok' (now completed,
-- with its new version), 'missing', 'version' or 'state' (nothing changed; the current state
-- and version).
local now = now_ms()
local out = {}
local completed, bytes = 0, 0
for i = 1, #KEYS - 7 do
  local key = upload_key
  if i > 1 then key = KEYS[7 + i] end
  local a = 4 + (i - 1) * 5
  local cur = redis.call('HMGET', key, 'state', 'version', 'id', 'migration')
  local state, version = cur[1], num(cur[2])
  if not state then
    out[i] = {'missing', '', 0}
  elseif version ~= num(ARGV[a]) then
    out[i] = {'version', state, version}
  elseif state ~= 'planned' then
    out[i] = {'state', state, version}
  else
    local size = num(ARGV[a + 1])
    version = version + 1
    redis.call('HSET', key, 'size', size, 'fingerprint', ARGV[a + 2], 'part_size', ARGV[a + 3], 'parts', 1,
      's3_upload_id', '', 'etag', ARGV[a + 4], 'bytes_done', size, 'parts_done', 1,
      'state', 'completed', 'version', version, 'updated', now, 'state_since', now)
    redis.call('EXPIRE', key, retention)
    redis.call('ZREM', live_index_key, cur[3])
    redis.call('PUBLISH', channel, cjson.encode({upload = cur[3], migration = cur[4],
      state = 'completed', version = version, parts_done = 1, parts = 1, bytes_done = size, size = size}))
    completed = completed + 1
    bytes = bytes + size
    out[i] = {'ok', 'completed', version}
  end
end
if completed > 0 then
  redis.call('HINCRBY', migration_key, 'bytes_total', bytes)
  redis.call('HINCRBY', migration_key, 'bytes_done', bytes)
  redis.call('HINCRBY', migration_key, 'uploads_started', completed)
  redis.call('HINCRBY', migration_key, 'uploads_completed', completed)
  redis.call('HSET', migration_key, 'updated', now)
  settle_migration()
end
return out
