#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A node under a flood: the goodput of a well-behaved client (warm blocking invokes a
# second, wrk) while another client floods, as a ratio of its goodput without a flood in
# the same run; with xdp_guard on the node's interface and without it.
#   none   nobody else
#   syn    SYNs from one source at BENCH_SYN_PPS (tests/netns/synflood, raw socket)
#   creds  a client with wrong credentials at full speed (wrk, BENCH_FLOOD_CONNECTIONS)
# A whole system (controller and node) runs in a network namespace on 10.233.0.1:3233,
# the clients in two others, on one bridge (addresses only inside these namespaces). Each
# (guard, flood) pair runs BENCH_REPEAT times, interleaved; medians. Also: XDP drops per
# second and per CPU, and the node's CPU per good request.
# Needs root and a built tree (make test-build: it uses build/tests/netns/synflood).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "guard.sh: needs root" >&2; exit 1; }
synflood=$top/${BUILD:-build}/tests/netns/synflood
[ -x "$synflood" ] || { echo "guard.sh: $synflood is missing (make test-build)" >&2; exit 1; }
duration=${BENCH_DURATION:-8s}
repeat=${BENCH_REPEAT:-3}
syn_pps=${BENCH_SYN_PPS:-200000}
flood_conns=${BENCH_FLOOD_CONNECTIONS:-64}
id=$$
ns_node=xwb-node-$id ns_lan=xwb-lan-$id ns_good=xwb-good-$id ns_bad=xwb-bad-$id
node=10.233.0.1
run_pid=
guard_pids=()

in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

netns_cleanup() {
	stop_system
	for ns in "$ns_node" "$ns_lan" "$ns_good" "$ns_bad"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap 'netns_cleanup; bench_cleanup' EXIT

ip netns add "$ns_lan"
ip -n "$ns_lan" link add br0 type bridge
ip -n "$ns_lan" link set br0 up
i=1
for n in node good bad; do
	ns=xwb-$n-$id
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	ip link add eth0 netns "$ns" type veth peer name "p-$n" netns "$ns_lan"
	ip -n "$ns_lan" link set "p-$n" master br0 up
	ip -n "$ns" addr add "10.233.0.$i/24" dev eth0
	ip -n "$ns" link set eth0 up
	i=$((i + 1))
done

# start_system GUARD(1|0): the system in its namespace, fresh state each time.
start_system() {
	local data=$bench_tmp/data-$1
	rm -rf "$data"
	(
		export XWHISK_DATA_DIR=$data XWHISK_NODE_LISTEN=$node:3233 XWHISK_BIN=$bin
		export XWHISK_CONTROLLER_LISTEN=127.0.0.1:3234 XWHISK_CONTROLLER=http://127.0.0.1:3234
		export XWHISK_CATALOG=0 XWHISK_PREWARM= XWHISK_LOG_LEVEL=warn
		export XWHISK_PIN_DIR=/sys/fs/bpf/xwhisk-bench-guard-$id XWHISK_SANDBOX_BRIDGE=xwbg$id
		export XWHISK_SANDBOX_SUBNET=169.254.232.0/24 XWHISK_GUARD_CGROUP=
		if [ "$1" = 1 ]; then export XWHISK_XDP_IFACE=eth0; else export XWHISK_XDP_IFACE=; fi
		exec nsenter --net="/run/netns/$ns_node" "$top/scripts/xwhisk-run"
	) >"$bench_tmp/run-$1.log" 2>&1 &
	run_pid=$!
	for _ in $(seq 200); do
		in_ns "$ns_good" curl -sf "http://$node:3233/ping" >/dev/null 2>&1 && break
		sleep 0.1
	done
	key=$(XWHISK_PIN_DIR=/sys/fs/bpf/xwhisk-bench-guard-$id "$bin/xwhisk-admin" --data-dir "$data" user create bench)
	"$bin/xwhisk-admin" --data-dir "$data" limits set bench --invocationsPerMinute 100000000 \
		--concurrentInvocations 100000 >/dev/null
	code=$(printf '#!/bin/sh\nwhile read -r line; do echo "{}" >&3; done\n' |
		python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
	in_ns "$ns_good" curl -sf -u "$key" -X PUT -H 'Content-Type: application/json' \
		-d "{\"exec\":{\"kind\":\"native\",\"code\":$code},\"limits\":{\"concurrency\":64}}" \
		"http://$node:3233/api/v1/namespaces/_/actions/noop?overwrite=true" >/dev/null
	in_ns "$ns_good" curl -sf -u "$key" -X POST -H 'Content-Type: application/json' -d '{}' \
		"http://$node:3233/api/v1/namespaces/_/actions/noop?blocking=true&result=true" >/dev/null
	node_pid=$(in_ns "$ns_node" pgrep -n -f "$bin/xwhisk-node" || true)
	cat >"$bench_tmp/good.lua" <<LUA
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $(printf '%s' "$key" | base64 -w0)"
LUA
	cat >"$bench_tmp/bad.lua" <<LUA
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic $(printf 'nobody:wrong' | base64 -w0)"
LUA
}

stop_system() {
	[ -n "$run_pid" ] || return 0
	kill -TERM "$run_pid" 2>/dev/null || true
	wait "$run_pid" 2>/dev/null || true
	run_pid=
	XWHISK_PIN_DIR=/sys/fs/bpf/xwhisk-bench-guard-$id XWHISK_SANDBOX_BRIDGE=xwbg$id \
		XWHISK_XDP_IFACE=eth0 in_ns "$ns_node" "$bin/xwhisk-node" --destroy \
		--data-dir "$bench_tmp/data-1" >/dev/null 2>&1 || true
}

drops() {
	in_ns "$ns_node" curl -s "http://$node:3233/metrics" |
		awk '/^xwhisk_guard_drops_total/ {s += $2} END {print s + 0}'
}

# measure GUARD FLOOD: one line of JSON
measure() {
	local guard=$1 flood=$2 fpid= d0 d1 c0 c1 out rps
	d0=$(drops)
	c0=$(cpu_ticks "$node_pid")
	case "$flood" in
	syn) in_ns "$ns_bad" "$synflood" 10.233.0.3 "$node" 3233 "${duration%s}" "$syn_pps" >/dev/null 2>&1 &
		fpid=$! ;;
	creds) in_ns "$ns_bad" wrk -t1 -c"$flood_conns" -d"$duration" -s "$bench_tmp/bad.lua" \
		"http://$node:3233/api/v1/namespaces/_/actions/noop?blocking=true" >/dev/null 2>&1 &
		fpid=$! ;;
	esac
	sleep 0.5
	out=$(in_ns "$ns_good" wrk -t1 -c8 -d"$duration" -s "$bench_tmp/good.lua" \
		"http://$node:3233/api/v1/namespaces/_/actions/noop?blocking=true&result=true")
	[ -z "$fpid" ] || wait "$fpid" 2>/dev/null || true
	c1=$(cpu_ticks "$node_pid")
	d1=$(drops)
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	python3 -c 'import json,sys; g,f,r,dd,cpu,secs=sys.argv[1:]; print(json.dumps({"guard":g,"flood":f,"rps":float(r or 0),"xdp_drops_per_s":float(dd)/float(secs),"node_cpu_ticks":int(cpu)}))' \
		"$guard" "$flood" "$rps" "$((d1 - d0))" "$((c1 - c0))" "${duration%s}"
}

results=$bench_tmp/guard.ndjson
: >"$results"
for guard in 1 0; do
	start_system "$guard"
	for r in $(seq "$repeat"); do
		for flood in none syn creds; do
			measure "$guard" "$flood" | tee -a "$results"
			sleep 1
		done
	done
	stop_system
done

python3 - "$results" "$(nproc)" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cpus = int(sys.argv[2])
med = lambda xs: statistics.median(xs) if xs else 0
for g in ("1", "0"):
    base = med([r["rps"] for r in rows if r["guard"] == g and r["flood"] == "none"])
    print(f"[guard {'on' if g == '1' else 'off'}] good client alone: {base:.0f} req/s")
    for f in ("syn", "creds"):
        rs = [r for r in rows if r["guard"] == g and r["flood"] == f]
        rps = med([r["rps"] for r in rs])
        drops = med([r["xdp_drops_per_s"] for r in rs])
        print(f"  under {f:5s} flood: {rps:.0f} req/s = {rps / base if base else 0:.2f}x of alone;"
              f" XDP drops {drops:.0f}/s ({drops / cpus:.0f}/s per CPU)")
PY
