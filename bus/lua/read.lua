-- Read new ingress entries for the router group, as Redis holds them, within a bound (DESIGN.md 8).
--
-- One entry at a time (XREADGROUP COUNT 1), so a call copies at most max_bytes of entry data plus one
-- entry, however large the entries a partner wrote; an entry over the read-out limit is taken into the
-- pending list but only its size leaves Redis. Streams are visited from a rotating offset, first up to an
-- equal share each, then the rest of the call's budget to the streams that had more: one partner's
-- backlog cannot crowd out another's. A stream that fails (whatever its ids or entries) is reported and
-- the others are read. On Redis 7 the group's lag is checked against the stream's length: unread entries
-- that vanished (a partner's XADD with MAXLEN or MINID) are written to the audit stream once, and the
-- group's read counter is corrected so that they are not reported again.
--
-- KEYS: [1] audit stream, [2..] ingress streams.
-- ARGV: [1] group, [2] consumer, [3] max entries this call, [4] max bytes this call,
--       [5] read-out limit (bytes of one entry, field names included), [6] rotation offset,
--       [7] the ingress key prefix ("intel:ingress:"), to name the partner in audit events.
-- Returns a list of records, k being the stream's index in KEYS:
--   {'entry', k, id, field_count, size, name1, value1, ...}  (no names or values when size > limit)
--   {'stream', k, pending}                  the group's pending count before this call, per stream visited
--   {'created', k}                          the group was missing: created at 0 (MKSTREAM, ENTRIESREAD 0)
--   {'trimmed', k, count, after_id, first_id}   unread entries vanished; audited
--   {'error', k, message}                   this stream failed this call
local audit = KEYS[1]
local group, consumer = ARGV[1], ARGV[2]
local max_entries, max_bytes, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local offset, ingress_prefix = tonumber(ARGV[6]), ARGV[7]
local out, entries, bytes = {}, 0, 0
local streams = #KEYS - 1

local function check_trimmed(k, info)
  local stream = KEYS[k]
  local length = redis.call('XLEN', stream)
  local lag = tonumber(info['lag'])
  if lag <= length then return end
  local vanished = lag - length
  local stream_info = as_map(redis.call('XINFO', 'STREAM', stream))
  local first = stream_info['first-entry'] and stream_info['first-entry'][1] or ''
  local after = info['last-delivered-id']
  redis.call('XGROUP', 'SETID', stream, group, after, 'ENTRIESREAD', stream_info['entries-added'] - length)
  audit_event(audit, {'type', 'ingress_trimmed', 'partner', string.sub(stream, #ingress_prefix + 1),
    'stream', stream, 'count', vanished, 'after_id', after, 'first_id', first, 'detected_at_ms', now_ms(),
    'detected_by', consumer})
  out[#out + 1] = {'trimmed', k, vanished, after, first}
end

local function prepare(k)
  local stream = KEYS[k]
  local info = group_info(stream, group)
  if not info then  -- a read counter from the start (Redis 7), or trims of never-read entries go unseen
    local made = redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM', 'ENTRIESREAD', '0')
    if type(made) == 'table' and made.err then redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM') end
    out[#out + 1] = {'created', k}
    info = group_info(stream, group)
  end
  out[#out + 1] = {'stream', k, info['pending']}
  if info['lag'] then check_trimmed(k, info) end  -- Redis 7; 6.2 has no lag
end

local function read(k, quota)
  local stream, got = KEYS[k], 0
  while got < quota and entries < max_entries and bytes < max_bytes do
    local reply = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', 1, 'STREAMS', stream, '>')
    if not reply then break end
    local entry = reply[1][2][1]
    local fields = entry[2]
    local size = entry_size(fields)
    local record = {'entry', k, entry[1], #fields / 2, size}
    if size <= limit then
      for i = 1, #fields do record[#record + 1] = fields[i] end
    end
    out[#out + 1] = record
    got, entries, bytes = got + 1, entries + 1, bytes + entry_cost(fields, size)
  end
  return got
end

local share = math.max(1, math.floor(max_entries / math.max(streams, 1)))
local more = {}
for j = 0, streams - 1 do
  local k = 2 + (offset + j) % streams
  local ok, err = pcall(function()
    prepare(k)
    if read(k, share) == share then more[#more + 1] = k end
  end)
  if not ok then out[#out + 1] = {'error', k, error_text(err)} end
end
for _, k in ipairs(more) do
  if entries >= max_entries or bytes >= max_bytes then break end
  local ok, err = pcall(read, k, max_entries)
  if not ok then out[#out + 1] = {'error', k, error_text(err)} end
end
return out
