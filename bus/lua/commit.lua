-- Commit a batch of routed ingress entries atomically (DESIGN.md decision 3).
--
-- For each entry, all or nothing, inside this one script:
--   * mode "router": skip it unless it is still pending in the router group AND owned by this consumer (a
--     router that was too slow, whose entry another router reclaimed, cannot commit it a second time);
--     mode "scout": the scout commits urgent entries ahead of the router group (no pending check, no XACK);
--   * if this very ingress entry was already decided (by the scout, or the router): nothing but the XACK;
--   * if its submission_id was already decided for this partner from another entry: one `duplicate`
--     decision, nothing else;
--   * otherwise: the decision entry, one feed entry per delivery (carrying the decision id), the
--     quarantine entry when quarantined, and the dedupe mark;
--   * XACK the ingress entry.
--
-- KEYS: [1] decisions stream, [2] quarantine stream, [3..] ingress streams, seen hashes and feed streams,
--       referred to by index from ARGV.
-- ARGV: group, consumer, mode (router | scout), entry count, then per entry seven values and its sanitised views:
--       "ingress_key_index|entry_id|seen_key_index|sanitised_view_count" (seen_key_index 0: no dedupe),
--       submission_id, decision_json, duplicate_json, quarantine_reason ("" unless quarantined),
--       raw_payload (as received), deliveries ("feed_key_index,priority,view,due,view_ref;" each: view_ref 0
--       is the raw payload, a full view; n is the entry's n-th sanitised view), then the sanitised views.
-- Small fields travel packed and a full view is never sent twice: the client's cost is per argument.
-- The dedupe mark (hash field submission_id) is "decision_id ingress_stream entry_id".
-- Returns: per entry {status, decision_id}; status is routed | quarantined | duplicate | already | skipped.
local group, consumer, mode = ARGV[1], ARGV[2], ARGV[3]
local count = tonumber(ARGV[4])
local decisions, quarantine = KEYS[1], KEYS[2]
local results = {}
local i = 5
for _ = 1, count do
  local ingress_index, entry_id, seen_text, views_text = string.match(ARGV[i], '^(%d+)|([^|]+)|(%d+)|(%d+)$')
  local ingress = KEYS[tonumber(ingress_index)]
  local seen_index = tonumber(seen_text)
  local submission_id = ARGV[i + 1]
  local decision_json = ARGV[i + 2]
  local duplicate_json = ARGV[i + 3]
  local reason = ARGV[i + 4]
  local raw = ARGV[i + 5]
  local deliveries = ARGV[i + 6]
  local views = i + 6  -- ARGV[views + n] is the n-th sanitised view
  i = i + 7 + tonumber(views_text)

  local live = mode == 'scout' or #redis.call('XPENDING', ingress, group, entry_id, entry_id, 1, consumer) > 0
  if not live then
    results[#results + 1] = {'skipped', ''}
  else
    local seen = seen_index > 0 and KEYS[seen_index] or nil
    local mark = seen and redis.call('HGET', seen, submission_id) or false
    local original, where = false, ''
    if mark then
      original, where = string.match(mark, '^(%S+) ?(.*)$')
    end
    if original and where == ingress .. ' ' .. entry_id then
      results[#results + 1] = {'already', original}
    elseif original and mode == 'scout' then
      results[#results + 1] = {'skipped', ''}  -- a retry: the router group decides it (as a duplicate)
    elseif original then
      local dup = string.gsub(duplicate_json, '@@ORIGINAL@@', original, 1)
      local id = redis.call('XADD', decisions, '*', 'decision', dup)
      results[#results + 1] = {'duplicate', id}
    else
      local id = redis.call('XADD', decisions, '*', 'decision', decision_json)
      for feed, priority, view, due, ref in string.gmatch(deliveries, '(%d+),([^,;]*),([^,;]*),([^,;]*),(%d+);') do
        local payload = raw
        if ref ~= '0' then
          payload = ARGV[views + tonumber(ref)]
        end
        redis.call('XADD', KEYS[tonumber(feed)], '*', 'payload', payload, 'submission_id', submission_id,
          'priority', priority, 'view', view, 'due', due, 'decision_id', id)
      end
      if reason ~= '' then
        redis.call('XADD', quarantine, '*', 'payload', raw, 'reason', reason, 'stream', ingress,
          'entry_id', entry_id, 'submission_id', submission_id, 'decision_id', id)
      end
      if seen then
        redis.call('HSET', seen, submission_id, id .. ' ' .. ingress .. ' ' .. entry_id)
      end
      results[#results + 1] = {reason ~= '' and 'quarantined' or 'routed', id}
    end
    if mode == 'router' then
      redis.call('XACK', ingress, group, entry_id)
    end
  end
end
return results
