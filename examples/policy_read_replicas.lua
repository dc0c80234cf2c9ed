-- A read policy: each pull entering the cluster at this node is served by
-- the replica this node has sent the fewest pulls to, keeping read load
-- off the topic's home; the home serves only when no replica is alive.
-- Whichever copy serves, the home moves the cursor, so subscribers see
-- exactly the home's sequence.
--
--   hypersub node --policy examples/policy_read_replicas.lua ...
--
-- candidates: the topic's live copies, home first.
-- stats[id]: { hops = cube hops from this node, reads = pulls sent to it }.
return {
  read_replica = function(_, _, candidates, stats)
    local best
    for i = 2, #candidates do
      local id = candidates[i]
      if not best or stats[id].reads < stats[best].reads then best = id end
    end
    return best or candidates[1]
  end,
}
