-- claim_destination.lua: order the uploads of one destination (bucket + key) across
-- migrations, so the newest upload's content is the one that stays. This script does not use
-- lib.lua and touches only its one key (a slot of its own, outside every migration's).
--
-- KEYS[1]  the destination's hash: newest (rank), newest_id, and one field
--          "lease:<upload ID>" = until (unix ms) per write lease taken and not given back (a
--          lease is given back with a plain HDEL of its own field, see ReleaseDestination);
--          holder/holder_until, from before leases had fields of their own, are still honoured;
--          shared = "1" once a second upload made itself known (release_destination.lua then
--          keeps the key, so the older one stays superseded)
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
local all = redis.call('HGETALL', KEYS[1])
local cur = {}
for i = 1, #all, 2 do cur[all[i]] = all[i + 1] end
local newest = cur['newest']
if newest and ARGV[1] < newest then
  redis.call('HSET', KEYS[1], 'shared', '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return {'superseded', cur['newest_id']}
end
local fields = {}
if not newest or ARGV[1] > newest then
  fields = {'newest', ARGV[1], 'newest_id', ARGV[2]}
  if newest then
    fields[#fields + 1] = 'shared'
    fields[#fields + 1] = '1'
  end
end
if ARGV[3] == '1' then
  local now, busy, lapsed = tonumber(ARGV[5]), nil, {}
  for name, value in pairs(cur) do
    local holder = string.match(name, '^lease:(.+)$')
    if holder and holder ~= ARGV[2] then
      if tonumber(value) > now then busy = holder else lapsed[#lapsed + 1] = name end
    end
  end
  if cur['holder'] and cur['holder'] ~= ARGV[2] and tonumber(cur['holder_until'] or '0') > now then
    busy = cur['holder']
  end
  if busy then
    if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
    return {'busy', busy}
  end
  -- Leases whose holders died lapse; drop them as they are found.
  if #lapsed > 0 then redis.call('HDEL', KEYS[1], unpack(lapsed)) end
  fields[#fields + 1] = 'lease:' .. ARGV[2]
  fields[#fields + 1] = now + tonumber(ARGV[4])
end
if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {'ok', ARGV[2]}
