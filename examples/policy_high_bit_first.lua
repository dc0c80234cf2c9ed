--- A routing policy: fix the highest differing bit first, where the C
-- default fixes the lowest. Routes stay shortest (one differing bit per
-- hop) but take other paths through the cube, e.g. to spread forwarding
-- load away from low-numbered neighbours.
--
--   hypersub node --id 5 ... --policy examples/policy_high_bit_first.lua
--
-- next_hop(self, target, view) returns the neighbour to forward to, or nil
-- for the default. view = {self=, epoch=, dim=, members={...}, alive={[id]=true}}.
-- The node asks once per target and view epoch, then caches the answer.
local policy = {}

function policy.next_hop(self, target, view)
  local diff = view.self ~ target
  for bit = view.dim - 1, 0, -1 do
    local neighbour = view.self ~ (1 << bit)
    if diff & (1 << bit) ~= 0 and view.alive[neighbour] then
      return neighbour
    end
  end
  return nil -- no live neighbour fixes a bit: let the default detour
end

return policy
