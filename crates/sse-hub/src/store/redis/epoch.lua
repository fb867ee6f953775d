-- The history's epoch and the stream's newest id, in one atomic step, for
-- the tail task's reset check (redis/mod.rs, `restart_if_reset`).
-- ARGV[1]: an epoch to record when none is (a fresh random value).
-- The epoch is the field `epoch` of the dups hash (KEYS[3]), whose other
-- fields are stream ids ("<ms>-<seq>"), so it cannot collide with them; it
-- is deleted with the history (FLUSHALL, a restart without persistence)
-- and replicated and persisted with it (a failover or a restart from disk
-- keeps it).
-- Returns {epoch, newest id ever assigned (false when there is no stream)}.
local epoch = redis.call('HGET', KEYS[3], 'epoch')
if not epoch then
  redis.call('HSET', KEYS[3], 'epoch', ARGV[1])
  epoch = ARGV[1]
end
local newest = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      newest = info[i + 1]
    end
  end
end
return {epoch, newest}
