-- transition.lua: compare-and-swap an upload from one of the allowed states to another.
-- KEYS[1..6] the upload and migration keys (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4] expected version, or '' to accept any version (but not over a live finalizer's claim:
--         an upload in `completing` whose claim has not lapsed belongs to its finalizer, which
--         alone moves it on, with the version its claim returned),
-- ARGV[5] allowed current states, space separated,
-- ARGV[6] new state,
-- ARGV[7..] field/value pairs written with the transition (size, s3_upload_id, error, ...)
-- Returns {result, state, version}: result is 'ok' (moved; state and version are the new ones),
-- 'missing' (no such upload), 'version' (the version moved on: someone else changed it first)
-- 'state' (the current state is not an allowed one) or 'claimed' (any version was asked for and a
-- finalizer holds an unexpired claim); state and version are the current ones. After 'ok' a
-- fourth element is 1 when the upload's migration is finished (sealed, every upload terminal).
local expected, allowed, to = ARGV[4], ' ' .. ARGV[5] .. ' ', ARGV[6]
local cur = redis.call('HMGET', upload_key, 'state', 'version', 'claim_until')
if not cur[1] then return {'missing', '', 0} end
local from, version = cur[1], num(cur[2])
if expected ~= '' and num(expected) ~= version then return {'version', from, version} end
if not string.find(allowed, ' ' .. from .. ' ', 1, true) then return {'state', from, version} end
if expected == '' and from == 'completing' and now_ms() < num(cur[3]) then return {'claimed', from, version} end

-- Whether planning already counted this upload's size (a cancelled upload may never have been
-- planned: a single PUT that landed after the cancel is recorded completed from cancelled).
local counted = from ~= 'planned' and redis.call('HEXISTS', upload_key, 'size') == 1
if #ARGV >= 7 then
  local fields = {}
  for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', upload_key, unpack(fields))
end
if not counted and (from == 'planned' or from == 'cancelled') and (to == 'uploading' or to == 'completed') then
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
local version = move(from, to, now_ms())
return {'ok', to, version, migration_finished and 1 or 0}
