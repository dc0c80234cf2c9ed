--- The core's JSON answers (stats, views, topic lists) as Lua tables.
local cjson = require "cjson"

local M = {}

-- cjson decodes every number as a float; counters read better as integers.
local function integers(t)
  for k, v in pairs(t) do
    if type(v) == "table" then
      integers(v)
    elseif math.type(v) == "float" then
      t[k] = math.tointeger(v) or v
    end
  end
  return t
end

--- The JSON text as a table, its whole numbers as integers.
function M.decode(text)
  return integers(cjson.decode(text))
end

return M
