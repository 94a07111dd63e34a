-- take_bandwidth.lua: a token bucket of bytes per second shared by the fleet (not prefixed
-- by lib.lua: it touches one key of its own).
-- KEYS[1] the bucket hash (tokens, ts)
-- ARGV[1] rate in bytes per second, ARGV[2] burst in bytes, ARGV[3] bytes to take
-- The bytes are taken at once, into debt if need be (a reservation); returns how many
-- milliseconds the caller waits before sending them. The key expires once it would be full
-- again, so an idle bucket leaves nothing behind.
local rate, burst, take = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(now - ts, 0) * rate / 1000) - take
redis.call('HSET', KEYS[1], 'tokens', math.floor(tokens), 'ts', now)
local wait = 0
if tokens < 0 then wait = math.ceil(-tokens * 1000 / rate) end
redis.call('PEXPIRE', KEYS[1], wait + math.ceil(burst * 1000 / rate) + 1000)
return wait
