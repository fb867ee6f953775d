-- Appends one update and trims, atomically: the update is findable by its
-- id as soon as the append is acknowledged. Idempotent within history: when
-- an entry with the same update id is retained, nothing is added.
-- ARGV[1] max entries, ARGV[2] age cutoff in ms (0: none), ARGV[3] most
-- entries evicted by this call, ARGV[4] max bytes, ARGV[5..] the entry's
-- field/value pairs, starting with 'id', <update id>.
-- Returns the new entry's stream id, or {stream id, fields} of the entry
-- already retained under that update id.
local max_entries = tonumber(ARGV[1])
local cutoff = tonumber(ARGV[2])
local budget = tonumber(ARGV[3])
local max_bytes = tonumber(ARGV[4])
local uid = ARGV[6]
count_bytes()
-- Trim first, so that the check below sees the history a replay would.
trim(max_entries, max_bytes, cutoff, budget)
local current = redis.call('HGET', KEYS[2], uid)
if current then
  -- The oldest occurrence (ids may occur twice in data written before
  -- appends were idempotent): follow the chain past expired ones.
  local sid = split(current)
  while sid do
    local found = redis.call('XRANGE', KEYS[1], sid, sid)
    local e = found[1]
    if e and (cutoff == 0 or (tonumber(field(e[2], 'ms')) or 0) >= cutoff) then
      return e
    end
    sid = redis.call('HGET', KEYS[3], sid)
  end
end
local sid = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 5))
redis.call('INCRBY', KEYS[4], entry_bytes(ARGV, 5))
if not current then
  redis.call('HSET', KEYS[2], uid, sid)
else
  -- An occurrence past the age limit that trimming has not deleted yet:
  -- chain this one after the newest occurrence so that eviction of the
  -- oldest moves the id on to it.
  local first, last = split(current)
  redis.call('HSET', KEYS[3], last or first, sid)
  redis.call('HSET', KEYS[2], uid, first .. ' ' .. sid)
end
trim(max_entries, max_bytes, cutoff, budget)
return sid
