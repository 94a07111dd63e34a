-- transition.lua: compare-and-swap an upload from one of the allowed states to another.
-- KEYS[1] upload hash, KEYS[2] parts hash, KEYS[3] migration hash (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] events channel,
-- ARGV[3] expected version, or '' to accept any version,
-- ARGV[4] allowed current states, space separated,
-- ARGV[5] new state,
-- ARGV[6..] field/value pairs written with the transition (size, s3_upload_id, error, ...)
-- Returns {result, state, version}: result is 'ok' (moved; state and version are the new ones),
-- 'missing' (no such upload), 'version' (the version moved on: someone else changed it first)
-- or 'state' (the current state is not an allowed one); state and version are the current ones.
local expected, allowed, to = ARGV[3], ' ' .. ARGV[4] .. ' ', ARGV[5]
local cur = redis.call('HMGET', upload_key, 'state', 'version')
if not cur[1] then return {'missing', '', 0} end
local from, version = cur[1], num(cur[2])
if expected ~= '' and num(expected) ~= version then return {'version', from, version} end
if not string.find(allowed, ' ' .. from .. ' ', 1, true) then return {'state', from, version} end

if #ARGV >= 6 then
  local fields = {}
  for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', upload_key, unpack(fields))
end
if from == 'planned' and (to == 'uploading' or to == 'completed') then
  -- The size is known from planning on: count it in the migration's totals, and the upload
  -- as started (its source was read).
  local size = num(redis.call('HGET', upload_key, 'size'))
  redis.call('HINCRBY', migration_key, 'bytes_total', size)
  redis.call('HINCRBY', migration_key, 'uploads_started', 1)
  if to == 'completed' then
    -- A single PutObject: the whole object landed at once.
    redis.call('HSET', upload_key, 'bytes_done', size, 'parts_done', 1)
    redis.call('HINCRBY', migration_key, 'bytes_done', size)
    if redis.call('HGET', upload_key, 'skipped') == '1' then
      -- An identical object was already there (skip-existing): counted as completed, and here.
      redis.call('HINCRBY', migration_key, 'uploads_skipped', 1)
      redis.call('HINCRBY', migration_key, 'bytes_skipped', size)
    end
  end
end
return {'ok', to, move(from, to, now_ms())}
