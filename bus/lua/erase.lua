-- Retention's removal step and its erasure record, as one (bus/retention/run.py): entries of a stream
-- below a bound (XTRIM MINID) or dedupe marks (HDEL), counted by what Redis removed, the count added to
-- the trimmed hash (what the audit checkpointer adds to a log's length) and written into the record.
--
-- A stream's bound is lowered here, atomically with the trim, to every consumer group's: its oldest
-- pending entry, or else the entry after its last-delivered id. A group created or moved back by SETID
-- after retention computed its watermark is therefore never trimmed past, and a stream with no group at
-- all loses nothing when the caller says so (a feed nobody reads yet; an ingress stream no router reads).
--
-- 'approx' removes whole nodes of the stream below the bound (XTRIM MINID ~ … LIMIT: the cheapest trim
-- Redis has, at most LIMIT entries), and only when no whole node is below it (or the oldest node holds more
-- than LIMIT, when stream-node-max-entries allows it), the oldest entries below it exactly, at most FEW a
-- call. 'exact' removes everything below the bound (the caller read those entries, at most a page, and
-- found none held).
--
-- KEYS: [1] the stream or hash, [2] the audit stream, [3] the trimmed-counts hash.
-- ARGV xtrim: [1] 'xtrim', [2] the record's JSON without first, before, bound and count (it ends with '}'),
--             [3] the caller's bound, [4] the most entries one call removes, [5] '1' when a stream without a
--             group keeps everything, [6] 'approx' or 'exact'.
-- ARGV hdel:  [1] 'hdel', [2] the record's JSON without its count, [3..] the fields.
-- Returns how many were removed; no record is written when none was. The record of a trim names the id
-- range removed as first (the oldest removed) up to, not including, before (the oldest kept, or the bound
-- when none is left), so every entry of it went and no other.

local function num_incr(digits)
  local i = #digits
  while i > 0 and string.sub(digits, i, i) == '9' do i = i - 1 end
  if i == 0 then return '1' .. string.rep('0', #digits) end
  return string.sub(digits, 1, i - 1) .. tostring(tonumber(string.sub(digits, i, i)) + 1) ..
    string.rep('0', #digits - i)
end

local function id_after(id)  -- the smallest id after id
  if id == MAX_ID then return MAX_ID end
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if seq == '18446744073709551615' then return num_incr(ms) .. '-0' end
  return ms .. '-' .. num_incr(seq)
end

local function groups_bound(stream, bound, keep_without_group)
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) == 'table' and groups.err then return nil end  -- no such stream
  if #groups == 0 and keep_without_group then return nil end
  for _, row in ipairs(groups) do
    local info = as_map(row)
    local below
    if tonumber(info['pending']) > 0 then
      below = redis.call('XPENDING', stream, info['name'])[2]
    else
      below = id_after(info['last-delivered-id'])
    end
    if id_less(below, bound) then bound = below end
  end
  return bound
end

local FEW = 10  -- entries an exact step reads and removes at most (each may be a partner's 256 KiB)

local function oldest(stream)
  local row = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
  return row and row[1]
end

local target, audit, trimmed = KEYS[1], KEYS[2], KEYS[3]
local removed
local range = ''
if ARGV[1] == 'xtrim' then
  local bound = groups_bound(target, ARGV[3], ARGV[5] == '1')
  if bound == nil or bound == '0-0' then return 0 end
  local first = oldest(target)
  if first == nil or not id_less(first, bound) then return 0 end
  if ARGV[6] == 'approx' then
    removed = redis.call('XTRIM', target, 'MINID', '~', bound, 'LIMIT', ARGV[4])
    if removed == 0 then  -- the oldest node holds the bound (or more than LIMIT entries): FEW at a time, exactly
      local few = redis.call('XRANGE', target, '-', '(' .. bound, 'COUNT', FEW)
      local upto = bound
      if #few == FEW then upto = id_after(few[FEW][1]) end
      removed = redis.call('XTRIM', target, 'MINID', upto)
    end
  else
    removed = redis.call('XTRIM', target, 'MINID', bound)
  end
  if removed > 0 then redis.call('HINCRBY', trimmed, target, removed) end
  range = ',"first":"' .. first .. '","before":"' .. (oldest(target) or bound) .. '","bound":"' .. bound .. '"'
else
  removed = redis.call('HDEL', target, unpack(ARGV, 3))
end
if removed > 0 then
  redis.call('XADD', audit, '*', 'event', string.sub(ARGV[2], 1, -2) .. range .. ',"count":' .. removed .. '}')
end
return removed
