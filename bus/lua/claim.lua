-- Reclaim router-group entries left pending longer than a minimum idle time (DESIGN.md decision 4), with
-- their exact delivery counts and the last processing error recorded for them.
--
-- XPENDING (with IDLE) lists candidates without claiming or copying them. Entries never retried (one
-- delivery so far) are taken together, up to max entries and max bytes; an entry already retried is
-- taken alone, and only when it comes first: if something in a batch keeps killing the router, the
-- entries before it are committed one by one and those after it are not delivered again meanwhile, so
-- only the culprit reaches the poison limit. Each taken entry is copied (one XRANGE, so the budget holds
-- whatever a partner wrote) and claimed with its count raised by one (XCLAIM ... RETRYCOUNT, JUSTID).
-- An entry deleted while pending (a partner's MAXLEN, before any router decided it) is acknowledged and
-- written to the audit stream: it can never be decided.
--
-- KEYS: [1] ingress stream, [2] failures hash, [3] audit stream.
-- ARGV: [1] group, [2] consumer, [3] min idle ms, [4] max entries, [5] max bytes, [6] read-out limit,
--       [7] the ingress key prefix (to name the partner in audit events).
-- Returns records: {'entry', id, deliveries, last_error, field_count, size, name1, value1, ...} (no names
-- or values over the limit), {'deleted', id, deliveries}.
local stream, failures, audit = KEYS[1], KEYS[2], KEYS[3]
local group, consumer, idle = ARGV[1], ARGV[2], ARGV[3]
local max_entries, max_bytes, limit = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ingress_prefix = ARGV[7]
local out, bytes = {}, 0

local rows = redis.call('XPENDING', stream, group, 'IDLE', idle, '-', '+', max_entries)
for index, row in ipairs(rows) do
  local id, owner, count = row[1], row[2], tonumber(row[4])
  if (count > 1 and index > 1) or bytes >= max_bytes then break end
  local page = redis.call('XRANGE', stream, id, id)
  if #page == 0 then
    redis.call('XACK', stream, group, id)
    audit_event(audit, {'type', 'ingress_deleted_while_pending', 'partner', string.sub(stream, #ingress_prefix + 1),
      'stream', stream, 'entry_id', id, 'deliveries', count, 'consumer', owner, 'detected_at_ms', now_ms(),
      'detected_by', consumer})
    out[#out + 1] = {'deleted', id, count}
  else
    redis.call('XCLAIM', stream, group, consumer, idle, id, 'RETRYCOUNT', count + 1, 'JUSTID')
    local fields = page[1][2]
    local size = entry_size(fields)
    local record = {'entry', id, count + 1, redis.call('HGET', failures, stream .. ' ' .. id) or '', #fields / 2, size}
    if size <= limit then
      for i = 1, #fields do record[#record + 1] = fields[i] end
    end
    out[#out + 1] = record
    bytes = bytes + entry_cost(fields, size)
  end
  if count > 1 then break end
end
return out
