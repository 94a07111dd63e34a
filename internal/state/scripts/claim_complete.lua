-- claim_complete.lua: the finalizer's version CAS. Claims the right to call
-- CompleteMultipartUpload by moving the upload to `completing` until a deadline.
-- KEYS[1..6] the upload and migration keys (see lib.lua)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel,
-- ARGV[4] the version the caller read,
-- ARGV[5] how long the claim lasts in milliseconds (the caller's Complete timeout plus margin)
-- Returns {result, state, version, claim_until_ms}: result is
--   'ok'         claimed: state is 'completing', version the new one (the caller's CAS token)
--   'missing'    no such upload
--   'state'      the upload is neither uploading nor completing (completed, failed, ...)
--   'version'    the version moved on since the caller read it
--   'claimed'    another finalizer holds an unexpired claim (until claim_until_ms)
--   'incomplete' not every part is recorded yet
local cur = redis.call('HMGET', upload_key, 'state', 'version', 'parts', 'claim_until')
if not cur[1] then return {'missing', '', 0, 0} end
local state, version, claim_until = cur[1], num(cur[2]), num(cur[4])
if state ~= 'uploading' and state ~= 'completing' then return {'state', state, version, claim_until} end
if num(ARGV[4]) ~= version then return {'version', state, version, claim_until} end
local now = now_ms()
if state == 'completing' and now < claim_until then return {'claimed', state, version, claim_until} end
if redis.call('HLEN', parts_key) < num(cur[3]) then return {'incomplete', state, version, claim_until} end
claim_until = now + num(ARGV[5])
redis.call('HSET', upload_key, 'claim_until', claim_until)
return {'ok', 'completing', move(state, 'completing', now), claim_until}
