-- Housekeeping: applies retention without appending.
-- ARGV[1] max entries, ARGV[2] age cutoff in ms (0: none), ARGV[3] most
-- entries evicted by this call, ARGV[4] max bytes. Returns how many were
-- evicted.
return trim(tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[2]), tonumber(ARGV[3]))
