-- Runs the C unit tests (spec/unit/c/*.c, built into build/test/) and turns
-- each of their "ok NAME" / "not ok NAME: where" lines into a spec.
local dir = os.getenv("HYPERSUB_TEST_BIN") or "build/test"

local function run(path)
  local p = assert(io.popen(path .. " 2>&1"))
  local out = p:read("a")
  local ok, how, code = p:close()
  return out, ok, how, code
end

local binaries = {}
do
  local ls = io.popen('ls "' .. dir .. '" 2>/dev/null')
  for name in ls:lines() do binaries[#binaries + 1] = name end
  ls:close()
end

describe("C unit tests", function()
  it("are built", function()
    assert.is_true(#binaries >= 4, "expected the C test binaries in " .. dir)
  end)
  for _, name in ipairs(binaries) do
    describe(name, function()
      local out, ok, how, code = run(dir .. "/" .. name)
      local seen = 0
      for line in out:gmatch("[^\n]+") do
        local failed, case = line:match("^(n?o?t? ?ok) ([%w_]+)")
        if case then
          seen = seen + 1
          it(case, function()
            assert(failed == "ok", line)
          end)
        end
      end
      it("exits cleanly", function()
        assert(seen > 0, name .. " printed no cases:\n" .. out)
        assert(ok, ("%s %s %s:\n%s"):format(name, how, code, out))
      end)
    end)
  end
end)
