-- Reads history after a cursor with retention applied exactly, in one
-- atomic step (the bounds and the entries come from one state).
-- ARGV[1] cursor kind: earliest | newest | id | after
-- ARGV[2] the update id (id) or stream id (after); ignored otherwise
-- ARGV[3] limit (>= 1), ARGV[4] max entries, ARGV[5] age cutoff in ms (0: none),
-- ARGV[6] max bytes
-- Returns {complete (0|1), after (stream id|false), newest (stream id|false),
--          more (0|1), at (entry|false), entry, entry, ...} with entries as
-- XRANGE gives them; `at` is the entry an id cursor names, when found.
local kind = ARGV[1]
local limit = tonumber(ARGV[3])
local max_entries = tonumber(ARGV[4])
local cutoff = tonumber(ARGV[5])
local max_bytes = tonumber(ARGV[6])

-- The newest id ever assigned and the newest ever deleted. Streams are never
-- deleted by trimming (an empty stream keeps its key and its ids).
local newest = false
local max_deleted = '0-0'
local len = 0
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  local added = 0
  local last = '0-0'
  for i = 1, #info, 2 do
    local name = info[i]
    if name == 'last-generated-id' then
      last = info[i + 1]
    elseif name == 'max-deleted-entry-id' then
      max_deleted = info[i + 1]
    elseif name == 'entries-added' then
      added = info[i + 1]
    elseif name == 'length' then
      len = info[i + 1]
    end
  end
  if added > 0 then
    newest = last
  end
end

local function answer(complete, after, more, entries, at)
  local out = {complete and 1 or 0, after or false, newest, more and 1 or 0, at or false}
  for _, e in ipairs(entries) do
    out[#out + 1] = e
  end
  return out
end

if kind == 'newest' then
  return answer(true, newest or '0-0', false, {})
end

-- The oldest retained entry: the first of the newest `max_entries` created
-- at or after `cutoff`, after which the entries add up to at most
-- `max_bytes` (eviction goes oldest first, so everything after it is
-- retained too). `before` is the stream entry just before it, if any;
-- `skipped_bytes` what the entries before it hold.
local first = nil
local before = nil
local skipped_bytes = 0
local from = '-'
if len > max_entries then
  local skipped = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - max_entries)
  for _, e in ipairs(skipped) do
    skipped_bytes = skipped_bytes + entry_bytes(e[2], 1)
  end
  before = skipped[#skipped][1]
  from = '(' .. before
end
while len > 0 do
  -- Walks expired entries that housekeeping has not deleted yet: few.
  local chunk = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 128)
  for _, e in ipairs(chunk) do
    if cutoff == 0 or (tonumber(field(e[2], 'ms')) or 0) >= cutoff then
      first = e
      break
    end
    before = e[1]
    skipped_bytes = skipped_bytes + entry_bytes(e[2], 1)
  end
  if first or #chunk < 128 then
    break
  end
  from = '(' .. before
end
-- Walks entries beyond the byte bound that eviction has not reached yet
-- (appends evict within a budget): normally none. The newest stays.
local total = tonumber(redis.call('GET', KEYS[4]) or '')
if first and total then
  local retained = total - skipped_bytes
  while retained > max_bytes do
    local nxt = redis.call('XRANGE', KEYS[1], '(' .. first[1], '+', 'COUNT', 1)
    if #nxt == 0 then
      break
    end
    retained = retained - entry_bytes(first[2], 1)
    before = first[1]
    first = nxt[1]
  end
end

-- The newest entry no longer retained (deleted, or outside retention), or
-- nil when nothing was ever evicted.
local evicted
if first then
  evicted = before or max_deleted
else
  evicted = newest or '0-0'
end
if evicted == '0-0' then
  evicted = nil
end

local after = nil
local at = nil
local start
if kind == 'earliest' then
  if not first then
    return answer(true, nil, false, {})
  end
  start = first[1]
elseif kind == 'after' then
  local p = ARGV[2]
  if evicted and idcmp(p, evicted) < 0 then
    return answer(false, nil, false, {})
  end
  after = p
  if p == '18446744073709551615-18446744073709551615' then
    return answer(true, after, false, {})
  end
  start = '(' .. p
elseif kind == 'id' then
  local current = redis.call('HGET', KEYS[2], ARGV[2])
  if not current or not first then
    return answer(false, nil, false, {})
  end
  -- The oldest retained occurrence: follow the chain past occurrences
  -- that are outside retention but not deleted yet.
  local sid = split(current)
  while idcmp(sid, first[1]) < 0 do
    sid = redis.call('HGET', KEYS[3], sid)
    if not sid then
      return answer(false, nil, false, {})
    end
  end
  after = sid
  at = redis.call('XRANGE', KEYS[1], sid, sid)[1]
  start = '(' .. sid
else
  return redis.error_reply('unknown cursor kind')
end

local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', limit + 1)
local more = #entries > limit
if more then
  entries[#entries] = nil
end
return answer(true, after, more, entries, at)
