--- A busted output handler: one line per spec, failures in full, and the
-- closing line "N passed, N failed[, N skipped]" that CI reads.
return function(options)
  local busted = require "busted"
  local handler = require "busted.outputHandlers.base"()
  local out = io.stdout

  local function show_failure(t, label)
    local message = t.message
    if type(message) ~= "string" then message = require("pl.pretty").write(message) end
    out:write(("%s %s\n"):format(label, t.name))
    local where = t.element and t.element.trace
    if where and where.short_src then
      out:write(("    at %s:%s\n"):format(where.short_src, where.currentline))
    end
    out:write("    ", (tostring(message):gsub("\n", "\n    ")), "\n")
    if options.verbose and t.trace and t.trace.traceback then
      out:write("    ", (t.trace.traceback:gsub("\n", "\n    ")), "\n")
    end
  end

  handler.testEnd = function(element, parent, status)
    local name = handler.getFullName(element)
    if status == "success" then
      out:write("ok   ", name, "\n")
    elseif status == "pending" then
      out:write("skip ", name, "\n")
    elseif status == "failure" then
      show_failure(handler.failures[#handler.failures], "FAIL")
    elseif status == "error" then
      show_failure(handler.errors[#handler.errors], "ERROR")
    end
    out:flush()
    return nil, true
  end

  handler.error = function(element)
    if element.descriptor ~= "it" then
      show_failure(handler.errors[#handler.errors], "ERROR")
    end
    return nil, true
  end

  handler.suiteEnd = function()
    local failed = handler.failuresCount + handler.errorsCount
    local line = ("%d passed, %d failed"):format(handler.successesCount, failed)
    if handler.pendingsCount > 0 then
      line = line .. (", %d skipped"):format(handler.pendingsCount)
    end
    out:write(line, "\n")
    out:flush()
    return nil, true
  end

  busted.subscribe({ "suite", "end" }, handler.suiteEnd)
  busted.subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
  busted.subscribe({ "error" }, handler.error)
  return handler
end
