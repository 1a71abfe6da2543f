#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Streaming web actions (issue 10): throughput (MB/s) and CPU per MB of one upload of
# BENCH_STREAM_MB (default 1024) and one download of the same size, three targets in one run:
#   direct   a bare Node.js http server running the same handler, on loopback (raw TCP)
#   nginx    nginx proxy_pass to that server, buffering off both ways
#   xwhisk   the web-stream action through the node (spliced by sock_accel, or relayed)
# CPU is the proxy's (nginx's workers, the node process) user+system time per MB, from
# /proc; goal: xwhisk >= 80% of direct's throughput and less CPU per MB than nginx.
# Needs root (the node loads BPF and makes sandboxes), curl and nginx.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "stream.sh: needs root" >&2; exit 1; }
MBS=${BENCH_STREAM_MB:-1024}
export XWHISK_PREWARM=

HANDLER='
function main(req, res) {
  const u = new URL(req.url, "http://x");
  if (u.pathname.endsWith("/down")) {
    const total = Number(u.searchParams.get("mb")) * 1048576, chunk = Buffer.alloc(1 << 16, 7);
    let sent = 0;
    res.writeHead(200, { "Content-Length": total });
    const pump = () => { while (sent < total) { sent += chunk.length; if (!res.write(chunk)) return res.once("drain", pump); } res.end(); };
    return pump();
  }
  let n = 0;
  req.on("data", (c) => { n += c.length; });
  req.on("end", () => res.end(String(n)));
}'

start_xwhisk
key=$("$bin/xwhisk-admin" --data-dir "$bench_tmp/data" user create bench)
"$bin/xwhisk-admin" --data-dir "$bench_tmp/data" limits set bench --concurrentInvocations 1000 >/dev/null
node -e '
const [port, key, code] = process.argv.slice(1);
const body = JSON.stringify({ exec: { kind: "nodejs:20", code }, limits: { timeout: 300000 },
  annotations: [{ key: "web-export", value: true }, { key: "web-stream", value: true }] });
const req = require("http").request({ host: "127.0.0.1", port, method: "PUT",
  path: "/api/v1/namespaces/_/actions/s?overwrite=true",
  headers: { "Content-Type": "application/json", Authorization: "Basic " + Buffer.from(key).toString("base64") } },
  (res) => { res.resume(); res.on("end", () => process.exit(res.statusCode === 200 ? 0 : 1)); });
req.end(body);' "$NODE_PORT" "$key" "$HANDLER"

DIRECT_PORT=$(free_port)
node -e "$HANDLER; require('http').createServer(main).listen($DIRECT_PORT, '127.0.0.1')" &
bench_pids+=($!)
wait_port "$DIRECT_PORT"

# Buffering off both ways, no body limit: the stream passes through as it comes.
NGINX_HTTP='client_max_body_size 0;' NGINX_LOCATION='proxy_request_buffering off; proxy_buffering off;' \
	start_nginx "$DIRECT_PORT" 127.0.0.1 stream

node_pid=$NODE_PID

# run NAME URL PIDS...: one upload and one download; MB/s each, CPU ms per MB of PIDS.
run() {
	local name=$1 url=$2 t0 t1 c0 c1 secs
	shift 2
	head -c $((MBS << 20)) /dev/zero >"$bench_tmp/up.bin" 2>/dev/null || true
	curl -s -o /dev/null "$url/warm" -d warm
	c0=$(cpu_ticks "$@")
	t0=$(date +%s.%N)
	curl -s -o /dev/null -H 'Content-Type: application/octet-stream' -T "$bench_tmp/up.bin" "$url/up"
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$@")
	secs=$(echo "$t1 - $t0" | bc -l)
	printf '%-8s upload   %8.1f MB/s  %6.3f ms CPU/MB\n' "$name" "$(echo "$MBS / $secs" | bc -l)" \
		"$(echo "($c1 - $c0) * 1000 / $(getconf CLK_TCK) / $MBS" | bc -l)"
	c0=$(cpu_ticks "$@")
	t0=$(date +%s.%N)
	curl -s -o /dev/null "$url/down?mb=$MBS"
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "$@")
	secs=$(echo "$t1 - $t0" | bc -l)
	printf '%-8s download %8.1f MB/s  %6.3f ms CPU/MB\n' "$name" "$(echo "$MBS / $secs" | bc -l)" \
		"$(echo "($c1 - $c0) * 1000 / $(getconf CLK_TCK) / $MBS" | bc -l)"
}

run direct "http://127.0.0.1:$DIRECT_PORT"
# shellcheck disable=SC2046
run nginx "http://127.0.0.1:$NGINX_PORT" $(nginx_pids stream)
run xwhisk "http://127.0.0.1:$NODE_PORT/api/v1/web/bench/default/s" $node_pid
curl -s "http://127.0.0.1:$NODE_PORT/metrics" | grep -E '^xwhisk_(stream|sock_accel)' || true
