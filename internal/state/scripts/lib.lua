-- lib.lua: helpers prepended to every partflow script (not a script of its own).
-- Every script that includes it takes every key it may touch in KEYS, in this order (keys.go
-- builds them; nothing is derived from another key's name):
--   KEYS[1] upload hash, KEYS[2] parts hash (part number -> ETag), KEYS[3] migration hash,
--   KEYS[4] the migration's uploads index, KEYS[5] its failed index, KEYS[6] its live index,
--   KEYS[7] its list of compact records of completed uploads (a fed migration's), KEYS[8] its
--   feeder's list of created uploads not enqueued yet
-- and ARGV[1] retention in seconds for terminal records, ARGV[2] the idle expiry in seconds of
-- records that are not finished (every change restarts it), ARGV[3] the events channel.
--
-- Every key has a bounded life: terminal uploads expire after the retention, a finished
-- migration (sealed, every upload terminal) too; everything else expires once nothing has
-- changed it for the idle expiry (an unsealed migration whose enqueuer never came back, a live
-- upload nothing moves; the janitor fails stalled uploads long before).

local upload_key, parts_key, migration_key = KEYS[1], KEYS[2], KEYS[3]
local uploads_index_key, failed_index_key, live_index_key = KEYS[4], KEYS[5], KEYS[6]
local done_key, feed_key = KEYS[7], KEYS[8]
local retention, idle_expiry, channel = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]

-- Milliseconds from the Redis server's clock, so every worker shares one clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v) return tonumber(v) or 0 end

local terminal_counter = {completed = 'uploads_completed', failed = 'uploads_failed', cancelled = 'uploads_cancelled'}

-- Publish the upload's current progress as one JSON event.
local function publish()
  local f = redis.call('HMGET', upload_key, 'id', 'migration', 'state', 'version', 'parts_done', 'parts', 'bytes_done', 'size', 'error')
  redis.call('PUBLISH', channel, cjson.encode({
    upload = f[1], migration = f[2], state = f[3], version = num(f[4]),
    parts_done = num(f[5]), parts = num(f[6]), bytes_done = num(f[7]), size = num(f[8]),
    error = f[9] or nil}))
end

-- Expire a sealed migration (its keys) once every upload in it is terminal, after the retention;
-- otherwise once it has not changed for the idle expiry (restarted now).
-- migration_finished tells the script's caller that the migration is finished (see
-- Outcome.MigrationFinished), as settle_migration last found it.
local migration_finished = false
local function settle_migration()
  local m = redis.call('HMGET', migration_key, 'sealed', 'uploads_total', 'uploads_completed', 'uploads_failed', 'uploads_cancelled')
  local ttl = idle_expiry
  migration_finished = m[1] == '1' and num(m[3]) + num(m[4]) + num(m[5]) >= num(m[2])
  if migration_finished then ttl = retention end
  for _, key in ipairs({migration_key, uploads_index_key, failed_index_key, live_index_key, done_key, feed_key}) do
    redis.call('EXPIRE', key, ttl)
  end
end

-- Restart the idle expiry of a live upload's keys and of its migration's.
local function keep_alive()
  redis.call('EXPIRE', upload_key, idle_expiry)
  redis.call('EXPIRE', parts_key, idle_expiry)
  settle_migration()
end

-- Pause the migration (atomically with the failure just counted) once its failed uploads
-- pass its threshold: max_failures uploads, or max_failures_pct percent of its uploads.
local function check_failure_threshold(now)
  local m = redis.call('HMGET', migration_key, 'max_failures', 'max_failures_pct', 'uploads_failed', 'uploads_total', 'paused')
  if m[5] == '1' then return end
  local limit, failed, total = num(m[1]), num(m[3]), num(m[4])
  local reason
  if limit > 0 and failed > limit then
    reason = 'max-failures: ' .. failed .. ' uploads failed, more than ' .. limit
  elseif num(m[2]) > 0 and failed * 100 > num(m[2]) * total then
    reason = 'max-failures: ' .. failed .. ' of ' .. total .. ' uploads failed, more than ' .. m[2] .. '%'
  end
  if reason then redis.call('HSET', migration_key, 'paused', '1', 'pause_reason', reason, 'paused_at', now) end
end

-- A completed upload of a fed migration (field compact = 1) keeps no record: its name (the
-- upload ID after the migration's), key, size, ETag (without its quotes) and duration go to the
-- migration's done list as one tab-separated entry (with its bucket last when it is not the
-- migration's; key and bucket with \, tab and newline escaped as \\, \t, \n: see done.go),
-- and its hashes and index entry are dropped. The feeder's checkpoint, not the record, keeps
-- it from being created again.
local done_escapes = {['\\'] = '\\\\', ['\t'] = '\\t', ['\n'] = '\\n'}
local function escape_done(s) return (string.gsub(s, '[\\\t\n]', done_escapes)) end
local function compact(id, now)
  if redis.call('HGET', migration_key, 'compact') ~= '1' then return end
  local f = redis.call('HMGET', upload_key, 'key', 'size', 'etag', 'created', 'bucket')
  local m = redis.call('HMGET', migration_key, 'bucket')
  local etag = f[3] or ''
  if string.sub(etag, 1, 1) == '"' and string.sub(etag, -1) == '"' and #etag >= 2 then etag = string.sub(etag, 2, -2) end
  local entry = string.sub(id, -16) .. '\t' .. escape_done(f[1] or '') .. '\t' .. (f[2] or '0') .. '\t' .. etag ..
    '\t' .. (now - num(f[4]))
  if f[5] and f[5] ~= m[1] then entry = entry .. '\t' .. escape_done(f[5]) end
  redis.call('RPUSH', done_key, entry)
  redis.call('DEL', upload_key, parts_key)
  redis.call('ZREM', uploads_index_key, id)
  settle_migration()
end

-- Move the upload from state `from` to state `to`: bump the version, keep the migration's
-- counters in step, expire terminal records (and keep live ones) and publish an event.
-- Returns the new version.
local function move(from, to, now)
  local id = redis.call('HGET', upload_key, 'id')
  redis.call('HSET', upload_key, 'state', to, 'updated', now)
  local version = redis.call('HINCRBY', upload_key, 'version', 1)
  if from ~= to then
    -- When it entered this state (the janitor tells an old archived task from a live one).
    redis.call('HSET', upload_key, 'state_since', now)
    if terminal_counter[from] then redis.call('HINCRBY', migration_key, terminal_counter[from], -1) end
    if terminal_counter[to] then redis.call('HINCRBY', migration_key, terminal_counter[to], 1) end
    -- Every failed upload stays listed (for reports), however many there are.
    if to == 'failed' then
      redis.call('ZADD', failed_index_key, now, id)
      check_failure_threshold(now)
    end
    if from == 'failed' then redis.call('ZREM', failed_index_key, id) end
  end
  if terminal_counter[to] then
    redis.call('ZREM', live_index_key, id)
    redis.call('EXPIRE', upload_key, retention)
    redis.call('EXPIRE', parts_key, retention)
  else
    redis.call('ZADD', live_index_key, now, id)
  end
  redis.call('HSET', migration_key, 'updated', now)
  if from ~= to then
    if not terminal_counter[to] then keep_alive() else settle_migration() end
  elseif redis.call('TTL', parts_key) < idle_expiry / 2 then
    -- A recorded part (uploading → uploading) restarts the idle expiry only when half of it
    -- has passed (or the parts hash was just created without one): one TTL per part.
    keep_alive()
  end
  publish()
  if to == 'completed' then compact(id, now) end
  return version
end

-- Script body follows.
