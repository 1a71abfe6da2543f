#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The invocation hot path: a blocking invoke of a no-op native action, three targets on
# the same warm sandbox in one run:
#   direct   POST /run on the sandbox itself (the baseline)
#   nginx    nginx proxy_pass (keep-alive upstream) to the sandbox
#   xwhisk   POST /api/v1/namespaces/_/actions/noop?blocking=true&result=true on the node
# Twice: unpinned (wrk with BENCH_CONNECTIONS connections: throughput), and with every
# process pinned to CPU 0 and one connection (latency xwhisk adds over direct).
# Each round runs the three targets BENCH_REPEAT times (default 3), interleaved, and
# reports medians: one run on this VM moves by 15-40% from the next.
# Needs root (the node loads BPF maps and makes sandboxes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "invoke.sh: needs root" >&2; exit 1; }
export XWHISK_PREWARM=

start_xwhisk
key=$("$bin/xwhisk-admin" --data-dir "$bench_tmp/data" user create bench)
"$bin/xwhisk-admin" --data-dir "$bench_tmp/data" limits set bench --invocationsPerMinute 100000000 \
	--concurrentInvocations 100000 >/dev/null
api=http://127.0.0.1:$NODE_PORT/api/v1/namespaces/_

# A no-op action-loop executable: one JSON line in, {} out on fd 3.
code=$(printf '#!/bin/sh\nwhile read -r line; do echo "{}" >&3; done\n' | python3 -c \
	'import json,sys; print(json.dumps(sys.stdin.read()))')
curl -sf -u "$key" -X PUT -H 'Content-Type: application/json' \
	-d "{\"exec\":{\"kind\":\"native\",\"code\":$code},\"limits\":{\"concurrency\":${BENCH_ACTION_CONCURRENCY:-64}}}" \
	"$api/actions/noop?overwrite=true" >/dev/null
curl -sf -u "$key" -X POST -H 'Content-Type: application/json' -d '{}' \
	"$api/actions/noop?blocking=true&result=true" >/dev/null

# The warm sandbox's address, from the slots map.
read -r sb_ip sb_port < <(bpftool -j map dump pinned "$XWHISK_PIN_DIR/slots" | python3 -c '
import json, socket, struct, sys
for e in json.load(sys.stdin):
    v = e.get("formatted", e)["value"]
    if v["state"] == 2:
        print(socket.inet_ntoa(struct.pack("<I", v["addr"])), v["port"]); break')
[ -n "${sb_ip:-}" ] || { echo "invoke.sh: no warm sandbox found" >&2; exit 1; }
start_nginx "$sb_port" "$sb_ip"

run_body='{"value":{},"namespace":"bench","action_name":"/bench/noop","action_version":"0.0.1","activation_id":"00000000000000000000000000000000","transaction_id":"bench","deadline":"99999999999999"}'
GUEST_AUTH=$key
# The records of a round are shipped to the controller afterwards; the next round starts
# when that is done, so that it does not measure the previous one's bookkeeping.
wait_records_shipped() {
	local i
	for i in $(seq 1 600); do
		curl -sf "http://127.0.0.1:$NODE_PORT/metrics" | grep -q '^xwhisk_spool_backlog_bytes 0$' &&
			return 0
		sleep 0.1
	done
	echo "invoke.sh: records still unshipped after 60 s" >&2
}
# CPU time (utime + stime, in clock ticks) the given processes have used so far.
cpu_ticks() {
	local total=0 pid t
	for pid in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
		total=$((total + t))
	done
	echo "$total"
}

# Context switches (voluntary and not) of every thread of the given processes so far:
# each is a thread going to sleep or being put aside, the price of a wake-up.
ctx_switches() {
	local total=0 pid n
	for pid in "$@"; do
		n=$(cat /proc/"$pid"/task/*/status 2>/dev/null |
			awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s + 0}')
		total=$((total + n))
	done
	echo "$total"
}

# measure NAME URL BODY PIDS...: the wrk figures plus the CPU the PIDS spent, and the
# context switches their threads made, per request.
measure() {
	local name=$1 url=$2 body=$3 before after line sw_before sw_after
	shift 3
	before=$(cpu_ticks "$@")
	sw_before=$(ctx_switches "$@")
	line=$(WRK_METHOD=POST WRK_BODY=$body run_wrk "$name" "$url")
	after=$(cpu_ticks "$@")
	sw_after=$(ctx_switches "$@")
	python3 - "$line" "$before" "$after" "$(getconf CLK_TCK)" "$sw_before" "$sw_after" <<'PY'
import json, sys
name, rest = sys.argv[1].split(' ', 1)
r = json.loads(rest)
ticks = int(sys.argv[3]) - int(sys.argv[2])
r['cpu_us_per_req'] = round(ticks * 1e6 / int(sys.argv[4]) / max(r['requests'], 1), 1)
r['switches_per_req'] = round((int(sys.argv[6]) - int(sys.argv[5])) / max(r['requests'], 1), 2)
print(name, json.dumps(r))
PY
}

bench_round() {
	local i
	for i in $(seq 1 "${BENCH_REPEAT:-3}"); do
		measure direct "http://$sb_ip:$sb_port/run" "$run_body" $sb_pids
		measure nginx "http://127.0.0.1:$NGINX_PORT/run" "$run_body" $nginx_pids
		measure xwhisk "$api/actions/noop?blocking=true&result=true" '{}' $node_pid
		wait_records_shipped
	done
}

report() {
	python3 - "$1" "$2" <<'PY'
import json, statistics, sys
label = sys.argv[1]
runs = {}
for l in sys.argv[2].splitlines():
    name, rest = l.split(' ', 1)
    runs.setdefault(name, []).append(json.loads(rest))
# the median of each figure over the repeats, and the spread of xwhisk's throughput
r = {name: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for name, rs in runs.items()}
d, n, x = r['direct'], r['nginx'], r['xwhisk']
ratios = [a['rps'] / b['rps'] for a, b in zip(runs['xwhisk'], runs['nginx'])]
print(f"[{label}] {len(runs['xwhisk'])} runs, medians; xwhisk/nginx per run "
      f"{min(ratios):.2f}-{max(ratios):.2f}x; throughput xwhisk/nginx {x['rps']/n['rps']:.2f}x, xwhisk/direct {x['rps']/d['rps']:.2f}x; "
      f"added over direct: xwhisk p50 {x['p50_us']-d['p50_us']} us p99 {x['p99_us']-d['p99_us']} us, "
      f"nginx p50 {n['p50_us']-d['p50_us']} us p99 {n['p99_us']-d['p99_us']} us; "
      f"CPU per request: sandbox {d['cpu_us_per_req']} us, nginx {n['cpu_us_per_req']} us, "
      f"xwhisk-node {x['cpu_us_per_req']} us; "
      f"context switches per request: sandbox {d['switches_per_req']}, nginx {n['switches_per_req']}, "
      f"xwhisk-node {x['switches_per_req']}; "
      f"errors direct {d['errors']} nginx {n['errors']} xwhisk {x['errors']}")
PY
}

node_pid=$(pgrep -f "^$bin/xwhisk-node" | head -n 1)
controller_pid=$(pgrep -f "^$bin/xwhisk-controller" | head -n 1)
nginx_pids=$(pgrep -f 'nginx: worker' | tr '\n' ' ')
sb_cgroups=$(find /sys/fs/cgroup -path "*xwhisk-$XWHISK_SANDBOX_BRIDGE*" -name cgroup.procs 2>/dev/null)
# (cgroup v1 lists a process once per hierarchy)
sb_pids=$(cat $sb_cgroups 2>/dev/null | sort -un | tr '\n' ' ')

pin() { # pin CPU PIDS...
	local cpu=$1 pid
	shift
	for pid in "$@"; do taskset -a -p -c "$cpu" "$pid" >/dev/null 2>&1 || true; done
}

echo "-- unpinned, $BENCH_CONNECTIONS connections"
unpinned=$(bench_round)
echo "$unpinned"
report unpinned "$unpinned"

echo "-- everything pinned to CPU 0 (wrk, node, controller, nginx, sandbox), 1 connection"
pin 0 $node_pid $controller_pid $(pgrep -f 'nginx: (master|worker)') $sb_pids
pinned=$(BENCH_CONNECTIONS=1 BENCH_THREADS=1 WRK_PREFIX="taskset -c 0" bench_round)
echo "$pinned"
report pinned "$pinned"

# The controller is not on the invocation path (it takes the records, in batches,
# afterwards) and in a cluster runs elsewhere: the same, with it on the other CPU.
echo "-- pinned to CPU 0 except the controller (CPU 1), 1 connection"
pin 1 $controller_pid
apart=$(BENCH_CONNECTIONS=1 BENCH_THREADS=1 WRK_PREFIX="taskset -c 0" bench_round)
echo "$apart"
report controller-apart "$apart"
