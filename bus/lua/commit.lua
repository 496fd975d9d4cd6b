-- Commit decided ingress entries atomically (DESIGN.md decision 3): for each entry, all or nothing.
--
-- mode "router" (the router group's entries): an entry no longer pending to this consumer is skipped
-- (another router reclaimed it). An entry the scout already decided is only acknowledged ('already');
-- so is one whose dedupe mark names this very entry (a recreated group re-read it). An entry whose
-- dedupe key was already decided from another entry gets one 'duplicate' decision and nothing else.
-- Otherwise: the decision, one feed entry per delivery (each carrying the decision id), the quarantine
-- entry when quarantined, the dedupe mark, the partner's receipt; then XACK, and the entry's failure record
-- is dropped. Every decision written here, a duplicate's included, gets its receipt in the same call
-- (bus/receipts.py): whether the entry was admitted, never who received it. A scouted entry's receipt is
-- written when the group meets it, not with the scout's commit: one that came back ahead of the partner's
-- backlog would say that the entry was routed at once. Feed entries and receipts go to
-- streams their readers may also write on Redis 6.2 (a team its feeds, a partner its receipts: bus/acl.py);
-- one written at the largest id refuses every later XADD. Such a stream costs its reader that entry, never
-- another entry its commit (the script would stop half-way, and the retries write the rest again): the
-- entry's result names it in its note.
-- mode "scout" (threat-to-life entries decided ahead of the group): written only if neither the scout
-- nor anyone else decided it yet; recorded in the scouted hash; not acknowledged (the group does that);
-- then the scout's positions advance (never back), so a position never passes an uncommitted entry.
--
-- KEYS: [1] decisions, [2] quarantine, [3] scouted hash, [4] failures hash, [5] scout positions hash,
--       [6..] ingress streams, seen hashes, receipt streams and feed streams, referred to by index from ARGV.
-- ARGV: [1] group, [2] consumer, [3] mode, [4] entry count, [5] position count; then per entry
--       (bus/plan.py ENTRY_FIELDS, in this order):
--         head        "ingress_index|entry_id|seen_index|view_count|kept|copied_field_count|clear_failure|
--                     receipt_index" (seen_index 0: no dedupe mark; kept: copy | ingress; clear_failure: 0 | 1)
--         submission_id   as the partner wrote it ("" when unreadable)
--         dedupe_key      the normalised submission_id ("" when no mark is set)
--         decision        the decision record (JSON)
--         duplicate       the record a duplicate gets (JSON object; original_decision_id is added here)
--         reason          quarantine reason ("" unless quarantined)
--         receipt_outcome what the partner's receipt says (bus/receipts.py told): accepted | quarantined
--         receipt_class   its reason's class ("" unless quarantined)
--         receipt_reason  its reason ("" unless quarantined)
--         raw             the payload as received (for full views; "" when none)
--         deliveries      "feed_index,priority,view,due,view_ref;" per delivery (view_ref 0: raw)
--         view_1 .. view_n                 the sanitised views
--         name_1, value_1 .. name_c, value_c   the entry's fields, in order, when kept is "copy"
--       then per position: the positions hash field (bus/lua/scout.lua), entry id, and the field and value
--       naming its backlog region ("" and "": none); a region's position is moved only while the region
--       field still holds that value.
-- Returns per entry {status, decision_id, note}: status routed | quarantined | duplicate | already | skipped;
-- note: 'refused:<stream>' for each feed or receipt stream that refused its entry (see above), space-separated
-- ('' or absent: none).
local decisions, quarantine, scouted, failures, positions = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local group, consumer, mode = ARGV[1], ARGV[2], ARGV[3]
local count, position_count = tonumber(ARGV[4]), tonumber(ARGV[5])
local results = {}
local i = 6

-- XADD * to a stream its reader may also write: '' when written, the note naming the stream when its ids are
-- exhausted (see the header); any other error stops the script, as redis.call would.
local function add_to_shared(key, fields)
  local ok = redis.pcall('XADD', key, '*', unpack(fields))
  if type(ok) == 'table' and ok.err then
    if string.find(ok.err, 'exhausted', 1, true) then return 'refused:' .. key end
    error(ok)
  end
  return ''
end

local function receipt(e, entry_id, outcome, id, original)
  -- '' when written; the note naming it when its stream refused it
  local r = {'entry_id', entry_id, 'submission_id', e.submission_id, 'outcome', outcome, 'decision_id', id}
  if outcome == 'quarantined' then
    r[9], r[10], r[11], r[12] = 'reason_class', e.receipt_class, 'reason', e.receipt_reason
  elseif original then
    r[9], r[10] = 'original_decision_id', original
  end
  return add_to_shared(e.receipt, r)
end

local function write(e, ingress, entry_id, seen)
  local id = redis.call('XADD', decisions, '*', 'decision', e.decision)
  local notes = {}
  for feed, priority, view, due, ref in string.gmatch(e.deliveries, '(%d+),([^,;]*),([^,;]*),([^,;]*),(%d+);') do
    local payload = e.raw
    if ref ~= '0' then payload = ARGV[e.views + tonumber(ref)] end
    notes[#notes + 1] = add_to_shared(KEYS[tonumber(feed)], {'payload', payload, 'submission_id',
      e.submission_id, 'priority', priority, 'view', view, 'due', due, 'decision_id', id})
  end
  if e.reason ~= '' then
    local q = {'reason', e.reason, 'stream', ingress, 'entry_id', entry_id, 'submission_id', e.submission_id,
      'decision_id', id, 'kept', e.kept, 'fields', tostring(e.copied)}
    for f = 1, e.copied do
      q[#q + 1] = 'field:' .. f
      q[#q + 1] = ARGV[e.fields + 2 * f - 1]
      q[#q + 1] = 'value:' .. f
      q[#q + 1] = ARGV[e.fields + 2 * f]
    end
    redis.call('XADD', quarantine, '*', unpack(q))
  end
  if seen then
    redis.call('HSET', seen, e.dedupe_key, id .. ' ' .. ingress .. ' ' .. entry_id)
  end
  if mode ~= 'scout' then notes[#notes + 1] = receipt(e, entry_id, e.receipt_outcome, id) end
  return {e.reason ~= '' and 'quarantined' or 'routed', id, table.concat(notes, ' ')}
end

local function known(e, ingress, entry_id, seen)
  -- {status, decision_id} when this entry or its submission was decided before; nil otherwise
  local here = ingress .. ' ' .. entry_id
  local scouted_id = redis.call('HGET', scouted, here)
  if scouted_id then return {'already', scouted_id, 'scouted'} end
  local mark = seen and redis.call('HGET', seen, e.dedupe_key)
  if not mark then return nil end
  local original, where = string.match(mark, '^(%S+) ?(.*)$')
  if where == here then return {'already', original} end
  return {'duplicate', original}
end

local function commit_router(e, ingress, entry_id, seen)
  if #redis.call('XPENDING', ingress, group, entry_id, entry_id, 1, consumer) == 0 then
    return {'skipped', ''}
  end
  local result = known(e, ingress, entry_id, seen)
  if result and result[1] == 'duplicate' then
    local original = result[2]
    local record = string.sub(e.duplicate, 1, -2) .. ',"original_decision_id":"' .. original .. '"}'
    local id = redis.call('XADD', decisions, '*', 'decision', record)
    result = {'duplicate', id, receipt(e, entry_id, 'duplicate', id, original)}
  elseif result then
    redis.call('HDEL', scouted, ingress .. ' ' .. entry_id)
    if result[3] == 'scouted' then result[3] = receipt(e, entry_id, e.receipt_outcome, result[2]) end
  else
    result = write(e, ingress, entry_id, seen)
  end
  if e.clear_failure == '1' then redis.call('HDEL', failures, ingress .. ' ' .. entry_id) end
  redis.call('XACK', ingress, group, entry_id)
  return result
end

local function commit_scout(e, ingress, entry_id, seen)
  if known(e, ingress, entry_id, seen) then return {'skipped', ''} end
  local result = write(e, ingress, entry_id, seen)
  redis.call('HSET', scouted, ingress .. ' ' .. entry_id, result[2])
  return result
end

for _ = 1, count do
  local ingress_index, entry_id, seen_index, view_count, kept, copied, clear, receipt_index =
    string.match(ARGV[i], '^(%d+)|([^|]+)|(%d+)|(%d+)|(%a+)|(%d+)|([01])|(%d+)$')
  local e = {submission_id = ARGV[i + 1], dedupe_key = ARGV[i + 2], decision = ARGV[i + 3],
    duplicate = ARGV[i + 4], reason = ARGV[i + 5], receipt_outcome = ARGV[i + 6], receipt_class = ARGV[i + 7],
    receipt_reason = ARGV[i + 8], raw = ARGV[i + 9], deliveries = ARGV[i + 10], views = i + 10, kept = kept,
    copied = tonumber(copied), clear_failure = clear, receipt = KEYS[tonumber(receipt_index)]}
  e.fields = i + 10 + tonumber(view_count)
  i = e.fields + 2 * e.copied + 1
  local ingress = KEYS[tonumber(ingress_index)]
  local seen = tonumber(seen_index) > 0 and KEYS[tonumber(seen_index)] or nil
  if mode == 'scout' then
    results[#results + 1] = commit_scout(e, ingress, entry_id, seen)
  else
    results[#results + 1] = commit_router(e, ingress, entry_id, seen)
  end
end
for _ = 1, position_count do
  local field, id, region_field, region = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if region_field == '' or redis.call('HGET', positions, region_field) == region then  -- not restarted since
    local current = redis.call('HGET', positions, field)
    local forward = string.sub(field, -5) ~= '|down'  -- a backlog is scanned downwards (lua/scout.lua)
    if not current or (forward and id_less(current, id)) or (not forward and id_less(id, current)) then
      redis.call('HSET', positions, field, id)
    end
  end
  i = i + 4
end
return results
