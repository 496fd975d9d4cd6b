-- Helpers shared by every intelbus operation (bus/library.py puts one copy in the Redis Function
-- library, or one in front of each script on Redis 6.2). Stream ids are compared as numbers kept in
-- strings: a partner may write any id up to 18446744073709551615-18446744073709551615, past what a Lua
-- number holds exactly.
local MAX_ID = '18446744073709551615-18446744073709551615'

local function num_less(a, b)  -- decimal strings as Redis writes them (no leading zeros)
  if #a ~= #b then return #a < #b end
  return a < b
end

local function id_less(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  if ams ~= bms then return num_less(ams, bms) end
  return num_less(aseq, bseq)
end

local function as_map(flat)
  local map = {}
  for i = 1, #flat, 2 do map[flat[i]] = flat[i + 1] end
  return map
end

-- The group's XINFO GROUPS row as a map; nil when the stream does not exist, false when the group does not.
local function group_info(stream, group)
  local groups = redis.pcall('XINFO', 'GROUPS', stream)
  if type(groups) == 'table' and groups.err then return nil end
  for _, row in ipairs(groups) do
    local info = as_map(row)
    if info['name'] == group then return info end
  end
  return false
end

local function entry_size(fields)
  local size = 0
  for i = 1, #fields do size = size + #fields[i] end
  return size
end

-- What an entry costs a call's byte budget: its bytes, and for each name and value the fixed cost of
-- making it a Lua string (about a microsecond, as much as copying some 256 bytes), so an entry of
-- thousands of tiny fields is not free.
local FIELD_COST = 256
local function entry_cost(fields, size)
  return size + FIELD_COST * #fields
end

local function error_text(err)
  if type(err) == 'table' then return tostring(err.err or err[1]) end
  return tostring(err)
end

local function now_ms()
  local t = redis.call('TIME')
  return tostring(t[1]) .. string.sub(string.format('%06d', tonumber(t[2])), 1, 3)
end

-- One audit event: field "event", a JSON object of string and integer values.
local function audit_event(audit, pairs_list)
  local parts = {}
  for i = 1, #pairs_list, 2 do
    local value = pairs_list[i + 1]
    if type(value) == 'number' then
      value = string.format('%d', value)
    else
      value = '"' .. string.gsub(tostring(value), '[%c"\\]', function(c) return string.format('\\u%04x', string.byte(c)) end) .. '"'
    end
    parts[#parts + 1] = '"' .. pairs_list[i] .. '":' .. value
  end
  return redis.call('XADD', audit, '*', 'event', '{' .. table.concat(parts, ',') .. '}')
end
