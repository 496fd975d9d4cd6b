-- Scan ingress streams ahead of the router group for threat-to-life entries (DESIGN.md decision 5), so
-- that only those leave Redis; bus/scout.py decides them at once and commits them with commit.lua in
-- scout mode, which is also what moves a stream's position past them.
--
-- One entry at a time (XRANGE COUNT 1) within a budget of entries and bytes per call, from a rotating
-- offset; a stream that fails (any id, any entry) is reported and the others are scanned. A stream's scan
-- starts after the later of its stored position and the router group's last-delivered id (what the group
-- has read it decides itself). A candidate is an entry that is exactly one field, payload, within the
-- read-out limit, whose text has the key "threat_to_life" followed by the value true. Where a scan found
-- no candidate its position is stored here; where it found some, the position stays before the first of
-- them and the caller commits the rest ("upto") with what it routed.
--
-- KEYS: [1] positions hash (stream -> last scanned id), [2..] ingress streams.
-- ARGV: [1] router group, [2] max entries this call, [3] max bytes this call, [4] read-out limit,
--       [5] rotation offset.
-- Returns: {scanned, record, ...}, records being {'candidate', k, id, payload}, {'upto', k, id} (after
-- the candidates of stream k) and {'error', k, message}.
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

local function start_of(stream)
  local start = redis.call('HGET', positions, stream) or '0-0'
  local info = group_info(stream, group)
  if info and id_less(start, info['last-delivered-id']) then start = info['last-delivered-id'] end
  return start
end

local state = {}  -- per stream k: {last = id, before_first = id or nil, got = n}

local function scan(k, quota)
  local stream = KEYS[k]
  local st = state[k]
  if not st then
    st = {last = start_of(stream), got = 0}
    state[k] = st
  end
  local got = 0
  while got < quota and scanned < max_entries and bytes < max_bytes and st.last ~= MAX_ID do
    local page = redis.call('XRANGE', stream, '(' .. st.last, '+', 'COUNT', 1)
    if #page == 0 then break end
    local id, fields = page[1][1], page[1][2]
    local size = entry_size(fields)
    if size <= limit and #fields == 2 and fields[1] == 'payload' and urgent(fields[2]) then
      if not st.before_first then st.before_first = st.last end
      out[#out + 1] = {'candidate', k, id, fields[2]}
    end
    st.last, got, scanned, bytes = id, got + 1, scanned + 1, bytes + entry_cost(fields, size)
  end
  st.got = st.got + got
  return got
end

local function store(k)
  local st = state[k]
  if not st or st.got == 0 then return end
  if st.before_first then
    redis.call('HSET', positions, KEYS[k], st.before_first)
    out[#out + 1] = {'upto', k, st.last}
  else
    redis.call('HSET', positions, KEYS[k], st.last)
  end
end

local more = {}
for j = 0, streams - 1 do
  local k = 2 + (offset + j) % streams
  local ok, result = pcall(scan, k, share)
  if not ok then
    out[#out + 1] = {'error', k, error_text(result)}
    state[k] = nil
  elseif result == share then
    more[#more + 1] = k
  end
end
for _, k in ipairs(more) do
  if scanned >= max_entries or bytes >= max_bytes then break end
  local ok, result = pcall(scan, k, max_entries)
  if not ok then out[#out + 1] = {'error', k, error_text(result)} end
end
for k = 2, #KEYS do
  local ok, err = pcall(store, k)
  if not ok then out[#out + 1] = {'error', k, error_text(err)} end
end
out[1] = scanned
return out
