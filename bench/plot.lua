--- bench/plot.lua — line charts as SVG, written by hand so the suite needs
-- no plotting package. plot.line(path, {title =, xlabel =, ylabel =,
-- logx = base|nil, logy = base|nil, vline = {x =, label =},
-- bands = {{x0 =, x1 =, label =}, ...} (shaded spans, e.g. events),
-- series = {{name =, points = {{x, y}, ...}}, ...}}).
local M = {}

local COLORS = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f" }
local W, H, L, R, T, B = 760, 420, 80, 200, 40, 56

local function esc(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end

local function short(v)
  local a = math.abs(v)
  if a >= 1e6 then return ("%gM"):format(tonumber(("%.3g"):format(v / 1e6))) end
  if a >= 1e3 then return ("%gk"):format(tonumber(("%.3g"):format(v / 1e3))) end
  return ("%g"):format(tonumber(("%.3g"):format(v)))
end

-- Tick values for [lo, hi]: powers of `base` on a log axis, else ~5 round steps.
local function ticks(lo, hi, base)
  local out = {}
  if base then
    local e = math.floor(math.log(lo, base) + 1e-9)
    while base ^ e <= hi * (1 + 1e-9) do
      if base ^ e >= lo * (1 - 1e-9) then out[#out + 1] = base ^ e end
      e = e + 1
    end
    return out
  end
  local span = hi - lo
  local step = 10 ^ math.floor(math.log(span / 5, 10))
  for _, m in ipairs { 1, 2, 5, 10 } do
    if span / (step * m) <= 6 then step = step * m break end
  end
  for v = math.ceil(lo / step) * step, hi + step * 1e-9, step do out[#out + 1] = v end
  return out
end

function M.line(path, o)
  local xs, ys = {}, {}
  for _, s in ipairs(o.series) do
    for _, p in ipairs(s.points) do xs[#xs + 1], ys[#ys + 1] = p[1], p[2] end
  end
  if #xs == 0 then return false end
  local x0, x1 = math.min(table.unpack(xs)), math.max(table.unpack(xs))
  local y0, y1 = math.min(table.unpack(ys)), math.max(table.unpack(ys))
  if not o.logy then y0 = math.min(0, y0) end
  if x1 == x0 then x1 = x0 + 1 end
  if y1 == y0 then y1 = y0 + 1 end
  if o.logx then x0, x1 = o.logx ^ math.floor(math.log(x0, o.logx)), o.logx ^ math.ceil(math.log(x1, o.logx)) end
  if o.logy then y0, y1 = o.logy ^ math.floor(math.log(y0, o.logy)), o.logy ^ math.ceil(math.log(y1, o.logy)) end
  local function fx(v)
    local t = o.logx and (math.log(v) - math.log(x0)) / (math.log(x1) - math.log(x0)) or (v - x0) / (x1 - x0)
    return L + t * (W - L - R)
  end
  local function fy(v)
    local t = o.logy and (math.log(v) - math.log(y0)) / (math.log(y1) - math.log(y0)) or (v - y0) / (y1 - y0)
    return H - B - t * (H - T - B)
  end
  local out = {}
  local function add(fmt, ...) out[#out + 1] = fmt:format(...) end
  add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">', W, H)
  add('<rect width="100%%" height="100%%" fill="white"/>')
  add('<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>', L, esc(o.title))
  for _, v in ipairs(ticks(x0, x1, o.logx)) do
    add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>', fx(v), T, fx(v), H - B)
    add('<text x="%.1f" y="%d" text-anchor="middle">%s</text>', fx(v), H - B + 16, short(v))
  end
  for _, v in ipairs(ticks(y0, y1, o.logy)) do
    add('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>', L, fy(v), W - R, fy(v))
    add('<text x="%d" y="%.1f" text-anchor="end">%s</text>', L - 6, fy(v) + 4, short(v))
  end
  add('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>', L, T, W - L - R, H - T - B)
  add('<text x="%.1f" y="%d" text-anchor="middle">%s</text>', L + (W - L - R) / 2, H - 14, esc(o.xlabel))
  add('<text transform="translate(18,%.1f) rotate(-90)" text-anchor="middle">%s</text>', T + (H - T - B) / 2, esc(o.ylabel))
  for i, b in ipairs(o.bands or {}) do
    local x0, x1 = fx(b.x0), fx(b.x1)
    add('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#000" fill-opacity="0.12"/>',
      x0, T, math.max(2, x1 - x0), H - T - B)
    -- labels on two alternating rows, so neighbours do not overlap
    add('<text x="%.1f" y="%d" font-size="11">%s</text>', x0 + 3, T + 13 + (i - 1) % 2 * 13, esc(b.label))
  end
  if o.vline then
    local x = fx(o.vline.x)
    add('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" stroke-dasharray="4 3"/>', x, T, x, H - B)
    add('<text x="%.1f" y="%d">%s</text>', x + 4, T + 14, esc(o.vline.label))
  end
  for i, s in ipairs(o.series) do
    local color = COLORS[(i - 1) % #COLORS + 1]
    local pts = {}
    for _, p in ipairs(s.points) do pts[#pts + 1] = ("%.1f,%.1f"):format(fx(p[1]), fy(p[2])) end
    add('<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>', color,
      s.dash and ' stroke-dasharray="6 4"' or "", table.concat(pts, " "))
    if #s.points <= 40 then
      for _, p in ipairs(s.points) do
        add('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>', fx(p[1]), fy(p[2]), color)
      end
    end
    add('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>', W - R + 12, T + 10 + i * 18, W - R + 32, T + 10 + i * 18, color)
    add('<text x="%d" y="%d">%s</text>', W - R + 38, T + 14 + i * 18, esc(s.name))
  end
  add("</svg>")
  local f = assert(io.open(path, "w"))
  f:write(table.concat(out, "\n"), "\n")
  f:close()
  return true
end

return M
