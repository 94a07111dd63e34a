-- reset_upload.lua: send an upload back to `planned`, forgetting its plan and parts, when its
-- multipart upload is gone from S3 (aborted after a failure) and it must start over.
-- KEYS[1] upload hash, KEYS[2] parts hash, KEYS[3] migration hash (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] events channel,
-- ARGV[3] expected version, ARGV[4] allowed current states, space separated
-- Returns {result, state, version} like transition.lua: 'ok', 'missing', 'version' or 'state'.
local cur = redis.call('HMGET', upload_key, 'state', 'version', 'size', 'bytes_done')
if not cur[1] then return {'missing', '', 0} end
local from, version = cur[1], num(cur[2])
if num(ARGV[3]) ~= version then return {'version', from, version} end
if not string.find(' ' .. ARGV[4] .. ' ', ' ' .. from .. ' ', 1, true) then return {'state', from, version} end
if from ~= 'planned' then
  -- Planning counted the size; recorded parts counted their bytes. Both start over.
  -- (0 - n, not -n: Lua's -0 reaches Redis as "-0", which HINCRBY refuses.)
  redis.call('HINCRBY', migration_key, 'bytes_total', 0 - num(cur[3]))
  redis.call('HINCRBY', migration_key, 'uploads_started', -1)
end
redis.call('HINCRBY', migration_key, 'bytes_done', 0 - num(cur[4]))
redis.call('DEL', parts_key)
redis.call('HSET', upload_key, 'parts_done', 0, 'bytes_done', 0, 's3_upload_id', '', 'error', '')
return {'ok', 'planned', move(from, 'planned', now_ms())}
