-- The live picture of the cube in a real browser: Debian's headless
-- Chromium loads a node's page against a running 8-node cluster, shows the
-- eight members alive with what each holds, shows a killed node dead
-- without a reload, shows where a typed topic lives and the path a request
-- takes; a partial cube shows its missing ids as gaps. The page is saved as
-- build/screenshots/cube.png.
local cluster = require "hypersub.cluster"
local browser = require "spec.support.browser"
local uv = require "luv"

local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*/[^/]*$")) or "."
local SHOTS = ROOT .. "/build/screenshots"

-- The page's picture of node id: its state, as the page drew it.
local function state_of(id)
  return ("(document.querySelector('g.node[data-id=\"%d\"]') || {dataset: {}}).dataset.state"):format(id)
end

describe("the page in a browser #browser", function()
  if not browser.available() then
    pending("chromium is not installed (make deps installs it): the page is not tried")
    return
  end

  local cl, page
  after_each(function()
    if page then page:close() end
    if cl then
      cl:close()
      cl:check()
    end
    cl, page = nil, nil
  end)

  it("shows the 8 members, a killed one dead without a reload, and where a topic lives", function()
    cl = assert(cluster.start { nodes = 8, http = true })
    assert(cl:await_view())
    local c = assert(cl:client(0))
    assert(c:create_publisher "web")
    for i = 1, 12 do
      assert(c:create_topic("web", "topic-" .. i))
      assert(c:publish("web", "topic-" .. i, "hello"))
    end
    page = browser.open("http://" .. cl:http_addr(0) .. "/", 1280, 760)
    for id = 0, 7 do
      assert(page:wait_for(state_of(id) .. " === 'alive'", 20000, "node " .. id .. " alive"))
    end
    -- Every member's facts arrive: the table shows what each homes.
    assert(page:wait_for("[...document.querySelectorAll('#members tr')].length === 8 && " ..
      "[...document.querySelectorAll('#members tr')].every(tr => tr.children[3].textContent !== '')",
      20000, "every member's topics"))
    local homed = page:eval("[...document.querySelectorAll('#members tr')]" ..
      ".reduce((n, tr) => n + Number(tr.children[3].textContent), 0)")
    assert.equal(12, homed)
    assert.is_true(page:eval("document.querySelectorAll('line.edge').length") == 12)
    assert.is_true(page:eval("document.querySelectorAll('line.link').length") > 0)

    -- A topic typed into the box: its home and replicas ringed, the path drawn.
    local w = cl:where("topic-3")
    page:eval("document.getElementById('from').value = '0'; document.getElementById('topic').focus()")
    page:call("Input.insertText", { text = "topic-3" }, page:page_session())
    assert(page:wait_for(("document.querySelector('g.node[data-id=\"%d\"]').classList.contains('home')")
      :format(w.home), 10000, "the home ringed"))
    for _, r in ipairs(w.replicas) do
      assert.is_true(page:eval(("document.querySelector('g.node[data-id=\"%d\"]').classList.contains('replica')"):format(r)))
    end
    local text = page:eval("document.getElementById('where').textContent")
    assert.truthy(text:find("home " .. w.home, 1, true), text)
    if w.home ~= 0 then
      assert.is_true(page:eval("!!document.querySelector('polyline.path')"))
    end

    -- A node killed: the page, still open, shows it dead.
    local t0 = uv.hrtime()
    cl:kill(5)
    assert(page:wait_for(state_of(5) .. " === 'dead'", 20000, "node 5 dead"))
    local ms = (uv.hrtime() - t0) / 1e6
    assert.is_true(page:eval("document.querySelector('#members tr[data-id=\"5\"] td.state-dead') !== null"))
    for _, id in ipairs { 0, 1, 2, 3, 4, 6, 7 } do
      assert.equal("alive", page:eval(state_of(id)))
    end
    assert(page:wait_for("[...document.querySelectorAll('#members tr')].every(tr => tr.dataset.id === '5' || tr.children[3].textContent !== '')",
      10000, "the facts after the failover"))
    uv.fs_mkdir(ROOT .. "/build", tonumber("755", 8))
    uv.fs_mkdir(SHOTS, tonumber("755", 8))
    page:screenshot(SHOTS .. "/cube.png")
    assert.is_true(uv.fs_stat(SHOTS .. "/cube.png").size > 10000)
    io.stderr:write(("      (node 5 shown dead %.0f ms after the kill; screenshot %s)\n")
      :format(ms, SHOTS .. "/cube.png"))
  end)

  it("draws a partial cube with its missing ids as gaps", function()
    cl = assert(cluster.start { ids = { 0, 1, 2, 5 }, http = true })
    assert(cl:await_view())
    page = browser.open("http://" .. cl:http_addr(2) .. "/", 900, 640)
    for _, id in ipairs { 0, 1, 2, 5 } do
      assert(page:wait_for(state_of(id) .. " === 'alive'", 20000, "node " .. id))
    end
    for _, id in ipairs { 3, 4, 6, 7 } do
      assert.equal("missing", page:eval(state_of(id)))
    end
    assert.is_true(page:eval("document.querySelectorAll('line.edge.gap').length") > 0)
  end)
end)
