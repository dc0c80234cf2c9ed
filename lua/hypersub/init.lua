--- hypersub: the public Lua API, gathered from the modules that make it.
--
--   local hypersub = require "hypersub"
--   local c = assert(hypersub.connect "127.0.0.1:7000")
--   assert(c:create_publisher "p1")
--
-- Every client call works three ways:
--   * with a callback as its last argument it returns at once, and the
--     callback gets (result) or (nil, message, code) later;
--   * inside a coroutine it yields until the answer;
--   * anywhere else it runs luv's loop until the answer or the timeout.
-- Failures return nil, "CODE: message", "CODE"; wrong argument types raise.
--
-- hypersub.client: connect and the Client class; hypersub.node: nodes in
-- this process; hypersub.loop: run, spawn, sleep, await, run_until;
-- hypersub.options: the node's options.
local core = require "hypersub.core"
local client = require "hypersub.client"
local loop = require "hypersub.loop"
local node = require "hypersub.node"

return {
  connect = client.connect,
  Client = client.Client,
  node = node.new,
  split_addr = node.split_addr,
  run = loop.run,
  spawn = loop.spawn,
  sleep = loop.sleep,
  await = loop.await,
  run_until = loop.run_until,
  placement = core.placement, -- (topic, ids [, copies]) -> ids, home first
  -- (password [, ops, mem_kib]) -> the verifier a node's users option takes
  password_hash = core.password_hash,
  version = core.version,
  wire_version = core.wire_version,
  errors = core.errors, -- CODE -> negative number
}
