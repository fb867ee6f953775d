-- Shared by append.lua, trim.lua and replay.lua (concatenated in front of
-- each by redis/mod.rs). Keys, always in this order:
--   KEYS[1] the stream: one entry per update, fields id, ms, topics, data,
--           private and, when set, type and retry
--   KEYS[2] hash: update id -> "<oldest retained stream id>" or
--           "<oldest> <newest>" when the id occurs more than once
--   KEYS[3] hash: stream id of an occurrence of a duplicated update id ->
--           stream id of its next occurrence
--   KEYS[4] string: the sum of entry_bytes over the stream's entries, kept
--           by every script that adds or evicts (counted once by
--           count_bytes for a stream written before it existed)
-- Both hashes only name retained stream entries, so they are bounded by the
-- stream's length: eviction (evict_one) removes what it names.

-- The value of `name` in a stream entry's flat field list, or nil.
local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then
      return fields[i + 1]
    end
  end
  return nil
end

-- The bytes an entry counts against the byte bound, as update_size() in
-- store/mod.rs counts them: id, data, type and each topic (decoded from
-- the JSON list), from the flat field/value list `fields` starting at
-- index `from`.
local function entry_bytes(fields, from)
  local n = 0
  for i = from, #fields, 2 do
    local name, value = fields[i], fields[i + 1]
    if name == 'id' or name == 'data' or name == 'type' then
      n = n + #value
    elseif name == 'topics' then
      local ok, topics = pcall(cjson.decode, value)
      if ok and type(topics) == 'table' then
        for _, t in ipairs(topics) do
          if type(t) == 'string' then
            n = n + #t
          end
        end
      else
        n = n + #value
      end
    end
  end
  return n
end

-- The stream's byte total (KEYS[4]); counts the stream once when the key
-- is missing (a stream from before the byte bound): one pass, run by
-- RedisStore::open's housekeeping before any append.
local function count_bytes()
  local total = redis.call('GET', KEYS[4])
  if total then
    return tonumber(total) or 0
  end
  local n = 0
  local from = '-'
  while true do
    local chunk = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 1000)
    for _, e in ipairs(chunk) do
      n = n + entry_bytes(e[2], 1)
    end
    if #chunk < 1000 then
      break
    end
    from = '(' .. chunk[#chunk][1]
  end
  redis.call('SET', KEYS[4], n)
  return n
end

-- "first" or "first last" -> first, last (last is nil when absent).
local function split(value)
  local first, last = string.match(value, '^(%S+) (%S+)$')
  if first then
    return first, last
  end
  return value, nil
end

-- Compares two decimal strings without leading zeros, exactly (Lua numbers
-- are doubles, which cannot hold every u64).
local function numcmp(x, y)
  if #x ~= #y then
    return (#x < #y) and -1 or 1
  end
  if x == y then
    return 0
  end
  return (x < y) and -1 or 1
end

-- Compares two stream ids "<ms>-<seq>".
local function idcmp(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  local c = numcmp(am, bm)
  if c ~= 0 then
    return c
  end
  return numcmp(as, bs)
end

-- Deletes the oldest entry `e` ({id, fields}) and what the hashes say
-- about it: its update id then resolves to its next occurrence, if any.
-- Returns the entry's bytes, taken off the byte total.
local function evict_one(e)
  local sid = e[1]
  redis.call('XDEL', KEYS[1], sid)
  local size = entry_bytes(e[2], 1)
  redis.call('INCRBY', KEYS[4], -size)
  local uid = field(e[2], 'id')
  if not uid then
    return size
  end
  local current = redis.call('HGET', KEYS[2], uid)
  if not current then
    return size
  end
  local first, last = split(current)
  if first ~= sid then
    return size
  end
  local nxt = redis.call('HGET', KEYS[3], sid)
  if nxt then
    redis.call('HDEL', KEYS[3], sid)
    if last == nil or last == nxt then
      redis.call('HSET', KEYS[2], uid, nxt)
    else
      redis.call('HSET', KEYS[2], uid, nxt .. ' ' .. last)
    end
  else
    redis.call('HDEL', KEYS[2], uid)
  end
  return size
end

-- Evicts from the head while the stream holds more than `max_entries`, or
-- more than `max_bytes` (entry_bytes) in more than one entry, or the head
-- was created before `cutoff` (ms; 0 = no age limit), at most `budget`
-- entries. Returns how many were evicted.
local function trim(max_entries, max_bytes, cutoff, budget)
  local len = redis.call('XLEN', KEYS[1])
  local bytes = count_bytes()
  local n = 0
  while n < budget do
    local over = len > max_entries or (len > 1 and bytes > max_bytes)
    -- The head is read only when it may go: an append runs this twice
    -- (before its duplicate check and after its XADD), and within the
    -- bounds and with no age limit that is two reads and no XRANGE.
    if not over and cutoff == 0 then
      break
    end
    local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    if #head == 0 then
      break
    end
    if not over then
      over = (tonumber(field(head[1][2], 'ms')) or 0) < cutoff
    end
    if not over then
      break
    end
    bytes = bytes - evict_one(head[1])
    len = len - 1
    n = n + 1
  end
  if len == 0 and bytes ~= 0 then
    -- An empty stream holds no bytes: a total that drifted (an operator
    -- deleted entries by hand) is right again.
    redis.call('SET', KEYS[4], 0)
  end
  return n
end
