-- claim_destination.lua: order the uploads of one destination (bucket + key) across
-- migrations, so the newest upload's content is the one that stays. This script does not use
-- lib.lua and touches only its one key (a slot of its own, outside every migration's).
--
-- KEYS[1]  the destination's hash: newest (rank), newest_id, holder, holder_until (unix ms)
-- ARGV[1]  the caller's rank: "<created unix ms, 13 digits>|<upload ID>" (a larger one is newer)
-- ARGV[2]  the caller's upload ID
-- ARGV[3]  "1" to take the write lease (before PutObject or CompleteMultipartUpload), "0" to
--          only make the caller known (when planned)
-- ARGV[4]  lease length in ms
-- ARGV[5]  now, unix ms
-- ARGV[6]  life of the key in ms (refreshed on every call)
--
-- Returns {result, upload ID}:
--   {"ok", caller}            the caller is the newest upload (and holds the lease if asked)
--   {"superseded", newest}    a newer upload of the destination exists: the caller stands down
--   {"busy", holder}          the caller is newest, but an older upload is writing: try later
local cur = redis.call('HMGET', KEYS[1], 'newest', 'newest_id', 'holder', 'holder_until')
local newest = cur[1]
if newest and ARGV[1] < newest then
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return {'superseded', cur[2]}
end
local fields = {}
if not newest or ARGV[1] > newest then
  fields = {'newest', ARGV[1], 'newest_id', ARGV[2]}
end
if ARGV[3] == '1' then
  local holder, untilMs = cur[3], tonumber(cur[4] or '0')
  if holder and holder ~= ARGV[2] and untilMs > tonumber(ARGV[5]) then
    if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    return {'busy', holder}
  end
  fields[#fields + 1] = 'holder'
  fields[#fields + 1] = ARGV[2]
  fields[#fields + 1] = 'holder_until'
  fields[#fields + 1] = tonumber(ARGV[5]) + tonumber(ARGV[4])
end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {'ok', ARGV[2]}
