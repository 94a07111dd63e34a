-- feed_batch.lua: the feeder's step. Creates a batch of uploads in state planned, counts them
-- in the migration, moves the migration's feed checkpoint and lists the new uploads as "to
-- enqueue", all at once, only if the checkpoint is still the one the feeder read (its
-- sequence number) and no later run claimed the feed: a second feeder running the same step,
-- or an overtaken run, changes nothing.
-- KEYS[1..8] the upload and migration keys (see lib.lua) (only the migration's are used),
-- KEYS[9..] the record key of each upload of the batch, in ARGV's order
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4] the checkpoint's sequence number the feeder read, ARGV[5] the new checkpoint (the
-- listing's position after the batch, opaque), ARGV[6] '1' when the listing ends with this
-- batch (the migration is sealed), ARGV[7] the feeder's run (0: not checked; a lower run than
-- the feed's feed_run is stale), ARGV[8..] a JSON object of each upload's record fields (id,
-- migration, source, bucket, key, ...).
-- Returns {result, n}: 'ok' and how many uploads were created (an upload that exists is left
-- alone, but listed to enqueue again: harmless, task IDs are deterministic), 'missing' (no
-- such migration) or 'stale' and the current sequence number (another feeder moved first, a
-- later run claimed the feed, or the feed was stopped).
if redis.call('EXISTS', migration_key) == 0 then return {'missing', 0} end
local seq = num(redis.call('HGET', migration_key, 'feed_seq'))
if seq ~= num(ARGV[4]) then return {'stale', seq} end
if num(redis.call('HGET', migration_key, 'feed_run')) > num(ARGV[7]) and num(ARGV[7]) > 0 then return {'stale', seq} end
-- A cancelled migration's feed is stopped: nothing more is created.
if redis.call('HGET', migration_key, 'feed_stopped') == '1' then return {'stale', seq} end
local now = now_ms()
local created = 0
for i = 8, #ARGV do
  local key = KEYS[i + 1]
  local rec = cjson.decode(ARGV[i])
  if redis.call('EXISTS', key) == 0 then
    local fields = {}
    for k, v in pairs(rec) do
      fields[#fields + 1] = k
      fields[#fields + 1] = v
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('HSET', key, 'state', 'planned', 'version', 1, 'parts_done', 0, 'bytes_done', 0,
      'created', now, 'updated', now, 'fed', 1)
    redis.call('EXPIRE', key, idle_expiry)
    redis.call('ZADD', uploads_index_key, now, rec.id)
    redis.call('ZADD', live_index_key, now, rec.id)
    created = created + 1
  end
  redis.call('RPUSH', feed_key, rec.id)
end
redis.call('HINCRBY', migration_key, 'uploads_total', created)
redis.call('HSET', migration_key, 'feed_seq', seq + 1, 'feed_position', ARGV[5], 'updated', now)
if ARGV[6] == '1' then redis.call('HSET', migration_key, 'sealed', 1, 'feed_done', 1) end
settle_migration()
return {'ok', created}
