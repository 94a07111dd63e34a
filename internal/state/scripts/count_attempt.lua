-- count_attempt.lua: count a task attempt that ended in an error on an upload (for reports).
-- KEYS[1..6] the upload and migration keys (see lib.lua) (only the upload's is used)
-- ARGV[1] retention seconds, ARGV[2] idle expiry seconds, ARGV[3] events channel
-- Returns the new count, or 0 when the upload does not exist (nothing is created).
if redis.call('EXISTS', upload_key) == 0 then return 0 end
return redis.call('HINCRBY', upload_key, 'failed_attempts', 1)
