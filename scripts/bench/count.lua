-- SPDX-License-Identifier: Apache-2.0
-- wrk script for per-request.sh: each thread stops after $WRK_N responses (a fixed number
-- of requests, so that CPU and system calls can be divided by it). per-request.sh runs one
-- thread: when it stops, a SIGINT ends wrk's sleep through -d, so the run ends with its
-- requests instead of lasting the whole duration (with more threads, the first to finish
-- ends them all). The shell that sends it is started by popen, not os.execute: system()
-- ignores SIGINT in wrk while it waits.
local auth = os.getenv("WRK_AUTH")
local n = tonumber(os.getenv("WRK_N") or "10000")
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body then wrk.body = body; wrk.headers["Content-Type"] = "application/json" end
if auth and #auth > 0 then wrk.headers["Authorization"] = "Basic " .. auth end
local got = 0
local bad = 0
function response(status, headers, b)
  got = got + 1
  if status ~= 200 then bad = bad + 1 end
  if got == n then
    wrk.thread:stop()
    io.popen("kill -INT $PPID"):close()
  end
end
function done(summary, latency, requests)
  io.write(string.format('{"requests":%d,"rps":%.1f,"errors":%d,"non2xx":%d,"p50_us":%d}\n',
    summary.requests, summary.requests / (summary.duration / 1e6),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50)))
end
