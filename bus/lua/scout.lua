-- Scan ingress streams ahead of the router group for entries whose payload contains a marker
-- (threat_to_life), so that only those ever leave Redis (bus/scout.py decides them at once).
--
-- KEYS: [1] the scout's position hash (field: stream, value: last scanned entry id), [2..] ingress streams.
-- ARGV: [1] how many entries to scan per stream, [2] the marker (a plain substring).
-- Returns: {scanned, {stream, entry_id, {field, value, ...}}, ...}: the entries whose payload holds the
-- marker. Positions advance atomically, so several routers' scouts share the scan without overlap.
local positions, count, marker = KEYS[1], ARGV[1], ARGV[2]
local out = {0}
for k = 2, #KEYS do
  local stream = KEYS[k]
  local last = redis.call('HGET', positions, stream) or '0-0'
  local entries = redis.call('XRANGE', stream, '(' .. last, '+', 'COUNT', count)
  for _, entry in ipairs(entries) do
    local fields = entry[2]
    for f = 1, #fields, 2 do
      if fields[f] == 'payload' and string.find(fields[f + 1], marker, 1, true) then
        out[#out + 1] = {stream, entry[1], fields}
      end
    end
  end
  if #entries > 0 then
    redis.call('HSET', positions, stream, entries[#entries][1])
    out[1] = out[1] + #entries
  end
end
return out
