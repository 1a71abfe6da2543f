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
# Needs root (the node loads BPF maps and makes sandboxes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "invoke.sh: needs root" >&2; exit 1; }
export XWHISK_PIN_DIR=/sys/fs/bpf/xwhisk-bench-$$
export XWHISK_SANDBOX_BRIDGE=xwbench$$
export XWHISK_SANDBOX_SUBNET=169.254.248.0/22
export XWHISK_PREWARM=
cleanup_node() {
	XWHISK_DATA_DIR=$bench_tmp/data "$bin/xwhisk-node" --destroy >/dev/null 2>&1 || true
}
trap 'bench_cleanup; cleanup_node' EXIT

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
bench_round() {
	WRK_METHOD=POST WRK_BODY=$run_body run_wrk direct "http://$sb_ip:$sb_port/run"
	WRK_METHOD=POST WRK_BODY=$run_body run_wrk nginx "http://127.0.0.1:$NGINX_PORT/run"
	WRK_METHOD=POST WRK_BODY='{}' run_wrk xwhisk "$api/actions/noop?blocking=true&result=true"
}

report() {
	python3 - "$1" "$2" <<'PY'
import json, sys
label = sys.argv[1]
r = {l.split(' ', 1)[0]: json.loads(l.split(' ', 1)[1]) for l in sys.argv[2].splitlines()}
d, n, x = r['direct'], r['nginx'], r['xwhisk']
print(f"[{label}] throughput xwhisk/nginx {x['rps']/n['rps']:.2f}x, xwhisk/direct {x['rps']/d['rps']:.2f}x; "
      f"added over direct: xwhisk p50 {x['p50_us']-d['p50_us']} us p99 {x['p99_us']-d['p99_us']} us, "
      f"nginx p50 {n['p50_us']-d['p50_us']} us p99 {n['p99_us']-d['p99_us']} us; "
      f"errors direct {d['errors']} nginx {n['errors']} xwhisk {x['errors']}")
PY
}

echo "-- unpinned, $BENCH_CONNECTIONS connections"
unpinned=$(bench_round)
echo "$unpinned"
report unpinned "$unpinned"

echo "-- pinned to CPU 0, 1 connection"
for pid in $(pgrep -f "xwhisk-(node|controller|proxy)|nginx: (master|worker)" || true) \
	$(pgrep -f "$bench_tmp" || true); do
	taskset -a -p -c 0 "$pid" >/dev/null 2>&1 || true
done
for pid in $(cat /sys/fs/cgroup/*/xwhisk*/*/cgroup.procs /sys/fs/cgroup/unified/xwhisk*/*/cgroup.procs 2>/dev/null || true); do
	taskset -a -p -c 0 "$pid" >/dev/null 2>&1 || true
done
pinned=$(BENCH_CONNECTIONS=1 BENCH_THREADS=1 WRK_PREFIX="taskset -c 0" bench_round)
echo "$pinned"
report pinned "$pinned"
