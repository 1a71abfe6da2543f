-- SPDX-License-Identifier: Apache-2.0
-- wrk script: sends the Authorization header from $WRK_AUTH and prints one JSON line
-- with throughput and latency percentiles (microseconds).
local auth = os.getenv("WRK_AUTH")
local method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
wrk.method = method
if body then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
-- What the node sends a sandbox's /run: its logs in band, up to this many bytes.
local logs = os.getenv("WRK_LOGS")
if logs and #logs > 0 then
  wrk.headers["X-Xwhisk-Logs"] = logs
end
if auth and #auth > 0 then
  wrk.headers["Authorization"] = "Basic " .. auth
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write +
                 summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"rps":%.1f,"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.requests / secs, errors, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max))
end
