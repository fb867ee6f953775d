-- Appends one update and trims, atomically: the update is findable by its
-- id as soon as the append is acknowledged.
-- ARGV[1] max entries, ARGV[2] age cutoff in ms (0: none), ARGV[3] most
-- entries evicted by this call, ARGV[4] max bytes, ARGV[5..] the entry's
-- field/value pairs, starting with 'id', <update id>.
-- Returns the new entry's stream id.
count_bytes()
local sid = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 5))
redis.call('INCRBY', KEYS[4], entry_bytes(ARGV, 5))
local uid = ARGV[6]
local current = redis.call('HGET', KEYS[2], uid)
if not current then
  redis.call('HSET', KEYS[2], uid, sid)
else
  -- A duplicate: chain it after the newest occurrence so that eviction of
  -- the oldest can move the id on to the next one.
  local first, last = split(current)
  redis.call('HSET', KEYS[3], last or first, sid)
  redis.call('HSET', KEYS[2], uid, first .. ' ' .. sid)
end
trim(tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return sid
