-- assign_batch.lua: name the upload:batch task that will upload a set of planned uploads of one
-- migration, so that the janitor, the monitor and cancel find it among each upload's tasks.
-- KEYS[1..8] the upload and migration keys of the first upload (see lib.lua), KEYS[9..] the
-- upload hashes of the others (all of the same migration)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4] the batch task's ID
-- Returns the number of uploads named: only those that exist and are planned (an upload that
-- expired is never brought back as a bare hash, and one that moved on keeps its record).
local named = 0
for i = 1, #KEYS - 7 do
  local key = upload_key
  if i > 1 then key = KEYS[7 + i] end
  if redis.call('HGET', key, 'state') == 'planned' then
    redis.call('HSET', key, 'batch', ARGV[4])
    named = named + 1
  end
end
return named
