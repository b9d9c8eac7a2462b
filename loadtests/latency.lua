-- wrk script: an optional Cookie (WRK_COOKIE) and, at the end, the latency distribution as
-- one JSON line ("percentiles": ms at 1..99.9 %). Closed loop, for saturation only: paced
-- with delay() wrk hides stalls (coordinated omission); below saturation the bench uses
-- loadtests/openloop.py.
local cookie = os.getenv("WRK_COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end

function done(summary, latency, requests)
  local points = {}
  local ps = {1, 5, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 95, 97, 98, 99, 99.5, 99.9}
  for _, p in ipairs(ps) do
    table.insert(points, string.format('"%s":%.3f', p, latency:percentile(p) / 1000))
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.3f,"errors":%d,"non_2xx_3xx":%d,"max_ms":%.3f,"percentiles":{%s}}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency.max / 1000, table.concat(points, ",")))
end
