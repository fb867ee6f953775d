-- Which commands the store needs that the Redis user may not run, as a
-- list of their names (empty: all allowed). Run once by RedisStore::open.
--   KEYS: the stream, the ids hash, the dups hash, the byte total (as in
--   common.lua)
--   ARGV[1]: "1" when appends wait for replicas (WAIT)
-- redis.acl_check_cmd checks the user's ACL for a command with these
-- arguments (keys included) without running it.
local denied = {}
local function check(name, ...)
  if not redis.acl_check_cmd(...) then
    table.insert(denied, name)
  end
end
local stream, ids, dups, bytes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
-- Called by the scripts.
check('XADD', 'XADD', stream, '*', 'id', 'x')
check('XDEL', 'XDEL', stream, '0-1')
check('XLEN', 'XLEN', stream)
check('XRANGE', 'XRANGE', stream, '-', '+', 'COUNT', '1')
check('XINFO STREAM', 'XINFO', 'STREAM', stream)
check('EXISTS', 'EXISTS', stream)
for _, hash in ipairs({ids, dups}) do
  check('HGET', 'HGET', hash, 'f')
  check('HSET', 'HSET', hash, 'f', 'v')
  check('HDEL', 'HDEL', hash, 'f')
end
check('GET', 'GET', bytes)
check('SET', 'SET', bytes, '0')
check('INCRBY', 'INCRBY', bytes, '1')
-- Sent directly (EVALSHA runs this very script).
check('SCRIPT LOAD', 'SCRIPT', 'LOAD', 'return 1')
check('XREAD', 'XREAD', 'COUNT', '1', 'BLOCK', '1', 'STREAMS', stream, '0-0')
check('INFO', 'INFO', 'server')
if ARGV[1] == '1' then
  check('WAIT', 'WAIT', '1', '1')
end
-- Deduplicate (HGET etc. are checked once per hash).
local seen, out = {}, {}
for _, name in ipairs(denied) do
  if not seen[name] then
    seen[name] = true
    table.insert(out, name)
  end
end
return out
