-- feed_claim.lua: run `run` of a migration's feeder claims the feed. Runs are numbered: each
-- enqueues the next before it ends, so the run that holds the feed is the highest number
-- that has started. A run that finds a higher one started is stale and stops.
-- KEYS[1..8] the upload and migration keys (see lib.lua) (only the migration's are used)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel, ARGV[4] the run
-- Returns {result, fields...}: 'ok' then the migration's feed, feed_seq, feed_position,
-- feed_done, feed_stopped, the count of live uploads and feed_paused; 'stale' (a later run started) or
-- 'missing' (no migration, or no feed).
local m = redis.call('HMGET', migration_key, 'feed', 'feed_run', 'feed_seq', 'feed_position', 'feed_done', 'feed_stopped', 'feed_paused')
if not m[1] then return {'missing'} end
local run = num(ARGV[4])
if num(m[2]) > run then return {'stale'} end
redis.call('HSET', migration_key, 'feed_run', run)
settle_migration()
return {'ok', m[1], tostring(num(m[3])), m[4] or '', m[5] or '0', m[6] or '0',
  tostring(redis.call('ZCARD', live_index_key)), m[7] or ''}
