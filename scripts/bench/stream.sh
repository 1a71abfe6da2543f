#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Streaming web actions (issue 10): throughput (MB/s) and CPU per MB of one upload of
# BENCH_STREAM_MB (default 1024) and one download of the same size, three targets in one run:
#   direct   a bare Node.js http server running the same handler, on loopback (raw TCP)
#   nginx    nginx proxy_pass to that server, buffering off both ways
#   xwhisk   the web-stream action through the node (spliced by sock_accel, or relayed)
# CPU is the proxy's (nginx's workers, the node process) user+system time per MB, from
# /proc, and the whole machine's busy time per MB (/proc/stat: every process and softirq,
# the sandbox's included); goal: xwhisk >= 80% of direct's throughput and less CPU per MB
# than nginx. The three targets run BENCH_REPEAT times (default 3), interleaved.
# Then an Upgrade echo (the transport a WebSocket uses): BENCH_ECHO_N round trips of 32
# bytes on one upgraded connection, p50/p99, direct against xwhisk.
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
}
function upgrade(req, socket, head) {
  socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
  if (head.length) socket.write(head);
  socket.pipe(socket);
}'

# XWHISK_SANDBOX_RPS (RPS on the sandboxes' veths) and XWHISK_SOCK_MSG (0: no upload into the
# sandbox's socket, docs/EBPF.md) are the node's; they label the run.
echo "xwhisk: XWHISK_SANDBOX_RPS=${XWHISK_SANDBOX_RPS:-off} XWHISK_SOCK_MSG=${XWHISK_SOCK_MSG:-1}"
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
node -e "$HANDLER; require('http').createServer(main).on('upgrade', upgrade).listen($DIRECT_PORT, '127.0.0.1')" &
bench_pids+=($!)
wait_port "$DIRECT_PORT"

# Buffering off both ways, no body limit: the stream passes through as it comes.
NGINX_HTTP='client_max_body_size 0;' NGINX_LOCATION='proxy_request_buffering off; proxy_buffering off;' \
	start_nginx "$DIRECT_PORT" 127.0.0.1 stream

node_pid=$NODE_PID

# Busy jiffies of the whole machine (user, nice, system, irq, softirq, steal).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# run NAME URL PIDS...: one upload and one download; MB/s each, CPU ms per MB of PIDS and
# of the machine.
run() {
	local name=$1 url=$2
	shift 2
	curl -s -o /dev/null "$url/warm" -d warm
	one "$name" upload "$@" -- curl -s -o /dev/null -w "%{http_code}" -H 'Content-Type: application/octet-stream' \
		-T "$bench_tmp/up.bin" "$url/up"
	one "$name" download "$@" -- curl -s -o /dev/null -w "%{http_code}" "$url/down?mb=$MBS"
}

# one NAME WHAT PIDS... -- COMMAND...: times COMMAND; prints MB/s, the PIDS' and the
# machine's CPU ms per MB.
one() {
	local name=$1 what=$2 pids=() t0 t1 c0 c1 m0 m1 secs hz code
	shift 2
	while [ "$1" != -- ]; do pids+=("$1"); shift; done
	shift
	hz=$(getconf CLK_TCK)
	c0=$(cpu_ticks "${pids[@]}")
	m0=$(machine_ticks)
	t0=$(date +%s.%N)
	code=$("$@")
	t1=$(date +%s.%N)
	c1=$(cpu_ticks "${pids[@]}")
	m1=$(machine_ticks)
	secs=$(echo "$t1 - $t0" | bc -l)
	[ "$code" = 200 ] || { echo "$name $what: HTTP $code" >&2; return 1; }
	printf '%-8s %-8s %8.1f MB/s  %6.3f ms CPU/MB  %6.3f ms machine/MB\n' "$name" "$what" \
		"$(echo "$MBS / $secs" | bc -l)" "$(echo "($c1 - $c0) * 1000 / $hz / $MBS" | bc -l)" \
		"$(echo "($m1 - $m0) * 1000 / $hz / $MBS" | bc -l)"
}

# echo_rtt NAME HOST PORT PATH: round trips of 32 bytes on one upgraded connection.
echo_rtt() {
	node -e '
const [name, host, port, path, n] = process.argv.slice(1);
const s = require("net").connect(Number(port), host, () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n` +
  "Connection: Upgrade\r\nUpgrade: echo\r\n\r\n"));
s.setNoDelay(true);
const msg = Buffer.alloc(32, 1), rtts = [];
let head = Buffer.alloc(0), upgraded = false, got = 0, t0;
const ping = () => { got = 0; t0 = process.hrtime.bigint(); s.write(msg); };
s.on("data", (d) => {
  if (!upgraded) {
    head = Buffer.concat([head, d]);
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) return;
    if (!/^HTTP\/1.1 101/.test(head.toString())) { console.error(name, "no 101:", head.toString().split("\r\n")[0]); process.exit(1); }
    upgraded = true;
    d = head.subarray(end + 4);
    ping();
    if (!d.length) return;
  }
  got += d.length;
  if (got < msg.length) return;
  rtts.push(Number(process.hrtime.bigint() - t0) / 1000);
  if (rtts.length < Number(n)) return ping();
  rtts.sort((a, b) => a - b);
  const at = (q) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))].toFixed(1);
  console.log(`${name.padEnd(8)} echo     p50 ${at(0.5)} us  p99 ${at(0.99)} us  (${n} round trips)`);
  s.end();
});' "$1" "$2" "$3" "$4" "${BENCH_ECHO_N:-5000}"
}

head -c $((MBS << 20)) /dev/zero >"$bench_tmp/up.bin" 2>/dev/null || true
for i in $(seq 1 "${BENCH_REPEAT:-3}"); do
	echo "-- repeat $i"
	run direct "http://127.0.0.1:$DIRECT_PORT"
	# shellcheck disable=SC2046
	run nginx "http://127.0.0.1:$NGINX_PORT" $(nginx_pids stream)
	run xwhisk "http://127.0.0.1:$NODE_PORT/api/v1/web/bench/default/s" "$node_pid"
	echo_rtt direct 127.0.0.1 "$DIRECT_PORT" /echo
	echo_rtt xwhisk 127.0.0.1 "$NODE_PORT" /api/v1/web/bench/default/s/echo
done
grep -E 'error|warn' "$bench_tmp/xwhisk.log" | tail -n 8 >&2 || true
curl -s "http://127.0.0.1:$NODE_PORT/metrics" | grep -E '^xwhisk_(stream|sock_accel)' || true
