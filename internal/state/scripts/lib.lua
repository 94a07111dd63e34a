-- lib.lua: helpers prepended to every partflow script (not a script of its own).
-- Every script that includes it takes the upload keys in this order:
--   KEYS[1] upload hash, KEYS[2] parts hash (part number -> ETag), KEYS[3] migration hash
-- and ARGV[1] retention in seconds for terminal records, ARGV[2] the events channel.

local upload_key, parts_key, migration_key = KEYS[1], KEYS[2], KEYS[3]
local retention, channel = tonumber(ARGV[1]), ARGV[2]

-- Milliseconds from the Redis server's clock, so every worker shares one clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v) return tonumber(v) or 0 end

local terminal_counter = {completed = 'uploads_completed', failed = 'uploads_failed', cancelled = 'uploads_cancelled'}

-- Sibling keys of the migration hash (same hash tag): its uploads index and its failed set.
local function migration_sibling(name)
  return string.sub(migration_key, 1, -string.len('migration') - 1) .. name
end
local function uploads_index_key() return migration_sibling('uploads') end
local function failed_index_key() return migration_sibling('failed') end
-- Live (non-terminal) uploads by last change, so the janitor finds stalled ones without a scan.
local function live_index_key() return migration_sibling('live') end

-- Publish the upload's current progress as one JSON event.
local function publish()
  local f = redis.call('HMGET', upload_key, 'id', 'migration', 'state', 'version', 'parts_done', 'parts', 'bytes_done', 'size', 'error')
  redis.call('PUBLISH', channel, cjson.encode({
    upload = f[1], migration = f[2], state = f[3], version = num(f[4]),
    parts_done = num(f[5]), parts = num(f[6]), bytes_done = num(f[7]), size = num(f[8]),
    error = f[9] or nil}))
end

-- Expire a sealed migration once every upload in it is terminal; keep it while any is live.
local function settle_migration()
  local m = redis.call('HMGET', migration_key, 'sealed', 'uploads_total', 'uploads_completed', 'uploads_failed', 'uploads_cancelled')
  if m[1] == '1' and num(m[3]) + num(m[4]) + num(m[5]) >= num(m[2]) then
    redis.call('EXPIRE', migration_key, retention)
    redis.call('EXPIRE', uploads_index_key(), retention)
    redis.call('EXPIRE', failed_index_key(), retention)
    redis.call('EXPIRE', live_index_key(), retention)
  else
    redis.call('PERSIST', migration_key)
    redis.call('PERSIST', uploads_index_key())
    redis.call('PERSIST', failed_index_key())
    redis.call('PERSIST', live_index_key())
  end
end

-- Move the upload from state `from` to state `to`: bump the version, keep the migration's
-- counters in step, expire terminal records (and keep live ones) and publish an event.
-- Returns the new version.
local function move(from, to, now)
  local id = redis.call('HGET', upload_key, 'id')
  redis.call('HSET', upload_key, 'state', to, 'updated', now)
  local version = redis.call('HINCRBY', upload_key, 'version', 1)
  if from ~= to then
    if terminal_counter[from] then redis.call('HINCRBY', migration_key, terminal_counter[from], -1) end
    if terminal_counter[to] then redis.call('HINCRBY', migration_key, terminal_counter[to], 1) end
    -- Every failed upload stays listed (for reports), however many there are.
    if to == 'failed' then redis.call('ZADD', failed_index_key(), now, id) end
    if from == 'failed' then redis.call('ZREM', failed_index_key(), id) end
  end
  if terminal_counter[to] then
    redis.call('ZREM', live_index_key(), id)
    redis.call('EXPIRE', upload_key, retention)
    redis.call('EXPIRE', parts_key, retention)
  else
    redis.call('ZADD', live_index_key(), now, id)
  end
  redis.call('HSET', migration_key, 'updated', now)
  if from ~= to then
    -- Expiry changes only when the state does: a live upload's keys and its migration's
    -- keys carry no expiry (a recorded part, uploading → uploading, leaves them alone).
    if not terminal_counter[to] then
      redis.call('PERSIST', upload_key)
      redis.call('PERSIST', parts_key)
    end
    settle_migration()
  end
  publish()
  return version
end

-- Script body follows.
