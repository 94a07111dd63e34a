-- create_uploads.lua: create, in one script, upload records of one migration in state `planned`,
-- count them in their migration (which it unseals: more is being enqueued) and name the
-- upload:batch task of those that share one.
-- KEYS[1..8] the upload and migration keys of the first upload (see lib.lua), KEYS[9..] the
-- upload hashes of the others (all of the same migration), in the order of ARGV's uploads
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4..] per upload: its batch group (0: none), its ID, n, then n field/value pairs of its
-- record (migration, source, bucket, key, ...)
-- Returns -1 when an upload would be created but the migration does not exist (nothing
-- changed), else one {created, batch} per upload: created is 1 when the upload was created, 0
-- when it already existed (nothing changed) or existed and its record expired (it finished in
-- an earlier run and is still counted: not counted again); batch is the upload:batch task ID
-- ("<ID of the group's first created upload>:batch") given to the created uploads of a group
-- of which at least two were created, '' otherwise (that upload needs its own start task).
local items, seen = {}, {}
local a, i = 4, 0
while a <= #ARGV do
  i = i + 1
  local key = upload_key
  if i > 1 then key = KEYS[7 + i] end
  local n = tonumber(ARGV[a + 2])
  local it = {key = key, group = ARGV[a], id = ARGV[a + 1], first = a + 3, last = a + 2 + 2 * n}
  -- Listed in its migration but without a record: it was terminal and its record expired while
  -- the migration lived on (unsealed, or reopened). The migration counted it then.
  -- An upload named twice in one call is created once (by its first item).
  it.new = not seen[it.id] and redis.call('EXISTS', key) == 0 and not redis.call('ZSCORE', uploads_index_key, it.id)
  seen[it.id] = true
  items[i] = it
  a = it.last + 1
end
local created, leader, members = 0, {}, {}
for _, it in ipairs(items) do
  if it.new then
    created = created + 1
    if it.group ~= '0' then
      leader[it.group] = leader[it.group] or it.id
      members[it.group] = (members[it.group] or 0) + 1
    end
  end
end
local out = {}
if created == 0 then
  for j = 1, #items do out[j] = {0, ''} end
  return out
end
if redis.call('EXISTS', migration_key) == 0 then return -1 end
local now = now_ms()
local index = {}
for j, it in ipairs(items) do
  out[j] = {0, ''}
  if it.new then
    local fields, migration = {'id', it.id}, nil
    for f = it.first, it.last, 2 do
      fields[#fields + 1] = ARGV[f]
      fields[#fields + 1] = ARGV[f + 1]
      if ARGV[f] == 'migration' then migration = ARGV[f + 1] end
    end
    local batch = ''
    if it.group ~= '0' and members[it.group] > 1 then batch = leader[it.group] .. ':batch' end
    if batch ~= '' then
      fields[#fields + 1] = 'batch'
      fields[#fields + 1] = batch
    end
    -- One write per record; events carry what was just written.
    redis.call('HSET', it.key, 'state', 'planned', 'version', 1, 'parts_done', 0, 'bytes_done', 0,
      'created', now, 'updated', now, unpack(fields))
    redis.call('EXPIRE', it.key, idle_expiry)
    redis.call('PUBLISH', channel, cjson.encode({upload = it.id, migration = migration,
      state = 'planned', version = 1, parts_done = 0, parts = 0, bytes_done = 0, size = 0}))
    index[#index + 1] = now
    index[#index + 1] = it.id
    out[j] = {1, batch}
  end
end
redis.call('ZADD', uploads_index_key, unpack(index))
redis.call('ZADD', live_index_key, unpack(index))
redis.call('HINCRBY', migration_key, 'uploads_total', created)
-- New uploads reopen a sealed migration (a re-run that adds items): enqueueing is going on
-- again until the enqueuer seals it anew.
redis.call('HSET', migration_key, 'updated', now, 'sealed', 0)
settle_migration()
return out
