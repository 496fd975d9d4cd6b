-- Scan ingress streams ahead of the router group for threat-to-life entries (DESIGN.md decision 5), so
-- that only those leave Redis; bus/scout.py decides them at once and commits them with commit.lua in
-- scout mode, which is also what moves a scan position past them.
--
-- New entries are looked at before old backlog, and a backlog newest first. Each stream's positions are
-- fields of the positions hash: <stream> (everything up to it is scanned or read by the router group)
-- and, while a backlog remains, <stream>|from (the newest entry when the backlog was first seen),
-- <stream>|down (the backlog is scanned from |from down to here) and <stream>|top (entries after |from
-- are scanned up to here). A call scans every stream's newer entries first, then spends what is left of
-- its budget on backlogs; both newest first. A threat to life written just before the router started is
-- found in the first call, not after the backlog, and one written just after a partner's bulk load is
-- found in the next call, not after the load (see settle_top). When the backlog is all scanned the fields
-- are one again.
-- A region's scan never goes below the router group's last-delivered id (what the group has read it
-- decides itself).
--
-- One entry at a time (XREVRANGE COUNT 1) within a budget of entries and bytes per call, from a rotating
-- offset; a stream that fails (any id, any entry) is reported and the others are scanned. Every stream is
-- read in every call (its group row), which is what re-arms the scout's change tracking (bus/wake.py). A
-- candidate is an entry that is exactly one field, payload, within the read-out limit, whose text has the
-- key "threat_to_life" followed by the value true. Where a region's scan found no candidate its position
-- is stored here; where it found some, the position stays before the first of them and the caller commits
-- the rest ("upto") with what it routed.
--
-- KEYS: [1] positions hash, [2..] ingress streams.
-- ARGV: [1] router group, [2] max entries this call, [3] max bytes this call, [4] read-out limit,
--       [5] rotation offset.
-- Returns: {scanned, record, ...}, records being {'candidate', k, id, payload}, {'upto', field, id,
-- region_field, region} (the position field to commit after stream k's candidates, and the region it
-- belongs to: '' for none) and {'error', k, message}.
local positions, group = KEYS[1], ARGV[1]
local max_entries, max_bytes, limit = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local offset = tonumber(ARGV[5])
local out, scanned, bytes = {0}, 0, 0
local streams = #KEYS - 1
local share = math.max(1, math.floor(max_entries / math.max(streams, 1)))

local function urgent(payload)
  local from = 1
  while true do
    local _, stop = string.find(payload, '"threat_to_life"', from, true)
    if not stop then return false end
    if string.find(payload, '^%s*:%s*true', stop + 1) then return true end
    from = stop + 1
  end
end

local function later(a, b)
  if b and id_less(a, b) then return b end
  return a
end

local state = {}  -- per stream k: its positions and this call's progress in each region

-- The stream's regions, from the hash and the router group's position (which every region starts after).
local function prepare(k)
  local stream = KEYS[k]
  redis.call('XLEN', stream)  -- a read that succeeds even on a missing stream: arms the change tracking
  local info = group_info(stream, group)
  local read = info and info['last-delivered-id'] or nil
  local st = {low = later(redis.call('HGET', positions, stream) or '0-0', read),
              from = redis.call('HGET', positions, stream .. '|from') or nil, got = {}, first = {}, cand = {},
              done = {}, k = k}
  if st.from then
    st.down = redis.call('HGET', positions, stream .. '|down') or nil
    st.top = later(redis.call('HGET', positions, stream .. '|top') or st.from, read)
    if not id_less(st.low, st.from) or (st.down and not id_less(st.low, st.down)) then
      st.low, st.from, st.down, st.top = later(st.low, st.top), nil, nil, nil  -- nothing left between: one region
      redis.call('HSET', positions, stream, st.low)
      redis.call('HDEL', positions, stream .. '|from', stream .. '|down', stream .. '|top')
    end
  end
  st.persisted = st.from ~= nil
  state[k] = st
end

local function candidate(st, region, id, fields, cursor)
  local size = entry_size(fields)
  if size <= limit and #fields == 2 and fields[1] == 'payload' and urgent(fields[2]) then
    if not st.cand[region] then st.cand[region], st.first[region] = true, cursor end
    out[#out + 1] = {'candidate', st.k, id, fields[2]}
  end
  return entry_cost(fields, size)
end

-- Newer entries, newest first: from the end down to |top (exclusive), over this call's passes.
local function scan_top(k, quota)
  local st = state[k]
  if not st or not st.persisted or st.done.top then return 0 end
  local stream, cursor, got = KEYS[k], st.tcur, 0
  if st.top == MAX_ID then st.done.top = true return 0 end  -- nothing can be above it
  local floor = '(' .. st.top
  while got < quota and scanned < max_entries and bytes < max_bytes do
    local page = redis.call('XREVRANGE', stream, cursor and '(' .. cursor or '+', floor, 'COUNT', 1)
    if #page == 0 then st.done.top = true break end
    st.tnew = st.tnew or page[1][1]
    bytes = bytes + candidate(st, 'top', page[1][1], page[1][2], cursor)
    cursor, got, scanned = page[1][1], got + 1, scanned + 1
  end
  st.tcur, st.got.top = cursor, (st.got.top or 0) + got
  return got
end

-- After the newer entries' passes: (old |top, newest] is scanned, or, when the budget ran out first (a
-- partner's bulk load while a backlog is scanned), the backlog region restarts at the newest entry and
-- what the burst left unscanned joins it, so an entry written after a burst is still the next call's
-- first look. The old region's scanned part is then scanned again (the price of keeping one region;
-- a candidate found twice is committed once).
local function settle_top(k)
  local st = state[k]
  if not st or (st.got.top or 0) == 0 then return end
  if st.done.top then
    st.top, st.first.top = st.tnew, nil  -- a position that moves up waits for the commit of any candidate
    return
  end
  st.restart, st.from, st.down, st.top = true, st.tnew, st.tcur, st.tnew
  st.got.low, st.cand.low, st.first.low = st.got.top, st.cand.top, st.first.top
  st.got.top, st.cand.top, st.first.top = 0, nil, nil
end

-- The backlog, newest first: down from |down (exclusive) or |from (inclusive), to the router group's
-- position; a stream with no backlog region yet starts one at its newest entry.
local function scan_low(k, quota)
  local st = state[k]
  if not st or st.done.low then return 0 end
  local stream, cursor, got = KEYS[k], st.down, 0
  if st.low == MAX_ID then st.done.low = true return 0 end  -- nothing can be above it
  local floor = '(' .. st.low
  while got < quota and scanned < max_entries and bytes < max_bytes do
    if cursor == '0-0' then st.done.low = true break end  -- nothing can be below it
    local upper = (cursor and '(' .. cursor) or st.from or '+'
    local page = redis.call('XREVRANGE', stream, upper, floor, 'COUNT', 1)
    if #page == 0 then st.done.low = true break end
    if not st.from then st.from = page[1][1] end
    bytes = bytes + candidate(st, 'low', page[1][1], page[1][2], cursor)
    cursor, got, scanned = page[1][1], got + 1, scanned + 1
  end
  st.down, st.got.low = cursor, (st.got.low or 0) + got
  return got
end

-- Store what was scanned, never past a candidate: a region with candidates keeps its position before the
-- first of them, and the caller commits the rest ('upto') with what it routed. A region's 'upto' names the
-- region (its |from): commit.lua moves it only if the region was not restarted meanwhile (by another
-- router's scout), so a restarted region's |down is never moved below what it has still to scan.
local function keep(field, first, cursor, has_candidate, region_field, region)
  if has_candidate then
    if first then redis.call('HSET', positions, field, first) end
    out[#out + 1] = {'upto', field, cursor, region_field or '', region or ''}
  else
    redis.call('HSET', positions, field, cursor)
  end
end

local function store(k)
  local st, stream = state[k], KEYS[k]
  if not st or ((st.got.low or 0) == 0 and (st.got.top or 0) == 0 and not st.done.low) then return end
  if st.done.low and not st.cand.low then  -- the backlog is all scanned: one region again
    if st.persisted then redis.call('HDEL', positions, stream .. '|from', stream .. '|down', stream .. '|top') end
    if st.persisted and (st.got.top or 0) > 0 then
      keep(stream, st.first.top, st.top, st.cand.top)
    elseif st.from and id_less(st.low, st.top or st.from) then
      redis.call('HSET', positions, stream, st.top or st.from)
    end
    return
  end
  if st.restart then  -- the region starts again at the newest entry, scanned down from it (inclusive)
    redis.call('HSET', positions, stream .. '|from', st.from, stream .. '|top', st.top)
    redis.call('HDEL', positions, stream .. '|down')
  elseif not st.persisted then
    redis.call('HSET', positions, stream .. '|from', st.from)
  end
  local region_field = stream .. '|from'
  if (st.got.low or 0) > 0 then keep(stream .. '|down', st.first.low, st.down, st.cand.low, region_field, st.from) end
  if (st.got.top or 0) > 0 then keep(stream .. '|top', st.first.top, st.top, st.cand.top, region_field, st.from) end
end

local function each_stream(fn)
  for j = 0, streams - 1 do
    local k = 2 + (offset + j) % streams
    local ok, err = pcall(fn, k)
    if not ok then
      out[#out + 1] = {'error', k, error_text(err)}
      state[k] = nil
    end
  end
end

local function pass(scan)  -- an equal share each, then the rest to the streams that had more
  local more = {}
  each_stream(function(k) if scan(k, share) == share then more[#more + 1] = k end end)
  for _, k in ipairs(more) do
    if scanned >= max_entries or bytes >= max_bytes then break end
    local ok, err = pcall(scan, k, max_entries)
    if not ok then out[#out + 1] = {'error', k, error_text(err)}; state[k] = nil end
  end
end

each_stream(prepare)
pass(scan_top)
each_stream(settle_top)
pass(scan_low)
each_stream(store)
out[1] = scanned
return out
