-- Loaded once before any spec: luv and the core are loaded here, outside
-- busted's insulation, so their loop lives for the whole run.
require "luv"
require "hypersub"
