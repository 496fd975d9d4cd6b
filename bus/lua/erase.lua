-- Retention's removal step and its erasure record, as one (bus/retention/run.py): entries below a MINID
-- (XTRIM, exact) or dedupe marks (HDEL), counted by what Redis removed, the count added to the trimmed
-- hash (what the audit checkpointer adds to a log's length) and written into the record.
--
-- KEYS: [1] the stream or hash, [2] the audit stream, [3] the trimmed-counts hash.
-- ARGV: [1] 'xtrim' or 'hdel', [2] the erasure record's JSON without its count (it ends with '}'),
--       [3] the MINID (xtrim), or [3..] the fields (hdel).
-- Returns how many were removed; no record is written when none was.
local target, audit, trimmed = KEYS[1], KEYS[2], KEYS[3]
local removed
if ARGV[1] == 'xtrim' then
  removed = redis.call('XTRIM', target, 'MINID', ARGV[3])
  if removed > 0 then redis.call('HINCRBY', trimmed, target, removed) end
else
  removed = redis.call('HDEL', target, unpack(ARGV, 3))
end
if removed > 0 then
  redis.call('XADD', audit, '*', 'event', string.sub(ARGV[2], 1, -2) .. ',"count":' .. removed .. '}')
end
return removed
