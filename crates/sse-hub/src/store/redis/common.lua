-- Shared by append.lua, trim.lua and replay.lua (concatenated in front of
-- each by redis/mod.rs). Keys, always in this order:
--   KEYS[1] the stream: one entry per update, fields id, ms, topics, data,
--           private and, when set, type and retry
--   KEYS[2] hash: update id -> "<oldest retained stream id>" or
--           "<oldest> <newest>" when the id occurs more than once
--   KEYS[3] hash: stream id of an occurrence of a duplicated update id ->
--           stream id of its next occurrence
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
local function evict_one(e)
  local sid = e[1]
  redis.call('XDEL', KEYS[1], sid)
  local uid = field(e[2], 'id')
  if not uid then
    return
  end
  local current = redis.call('HGET', KEYS[2], uid)
  if not current then
    return
  end
  local first, last = split(current)
  if first ~= sid then
    return
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
end

-- Evicts from the head while the stream holds more than `max_entries` or
-- the head was created before `cutoff` (ms; 0 = no age limit), at most
-- `budget` entries. Returns how many were evicted.
local function trim(max_entries, cutoff, budget)
  local len = redis.call('XLEN', KEYS[1])
  local n = 0
  while n < budget do
    local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    if #head == 0 then
      break
    end
    local over = len > max_entries
    if not over and cutoff > 0 then
      over = (tonumber(field(head[1][2], 'ms')) or 0) < cutoff
    end
    if not over then
      break
    end
    evict_one(head[1])
    len = len - 1
    n = n + 1
  end
  return n
end
