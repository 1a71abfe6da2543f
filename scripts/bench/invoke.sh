#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The invocation hot path, in two sets of rounds (BENCH_ROUNDS, default "native nodejs").
#
# native: a blocking invoke of a no-op native action, three targets on the same warm
# sandbox in one run:
#   direct   POST /run on the sandbox itself (the baseline)
#   nginx    nginx proxy_pass (keep-alive upstream) to the sandbox
#   xwhisk   POST /api/v1/namespaces/_/actions/noop?blocking=true&result=true on the node
# Three times: unpinned (wrk with BENCH_CONNECTIONS connections: throughput), with every
# process pinned to CPU 0 and one connection (latency xwhisk adds over direct), and the
# same with the controller on CPU 1.
#
# nodejs: a blocking invoke of a Node.js no-op action (function main() { return {} }),
# against what a user would otherwise deploy:
#   direct   POST /run on the warm Node.js sandbox (no node in between), on the port the
#            node uses: the loop's own run server (docs/SANDBOXES.md, "Runs straight to
#            the loop")
#   nginx    nginx proxy_pass (keep-alive upstream) to a bare Node.js http server doing the
#            same work (parse the JSON body, call the same main, answer its result),
#            started with the node binary the sandboxes run
#   xwhisk   POST /api/v1/namespaces/_/actions/noopjs?blocking=true&result=true
#   xwhisk-bare  the same invoke of "noopbare", an action of kind bare:1 whose sandbox runs
#            the bare server itself in place of xwhisk-proxy and its loop (a foreign kind
#            of the runtimes manifest, docs/SANDBOXES.md): xwhisk's front end in front of
#            the very work nginx fronts, so that its ratio to nginx is the node's alone
#   relay    scripts/bench/relay_floor.c in front of the bare server: a connection upstream
#            per client connection, bytes copied as they come, nothing parsed (two
#            processes, as nginx's two workers): the floor of any proxy that ends the
#            client's TCP connection
# Unpinned at 1 and at 16 connections (BENCH_NODEJS_CONNECTIONS), then one connection
# pinned to CPU 0 with the controller on CPU 1. Each target's row also has the
# controller's CPU per request (storing the records, during the run and after it), and a
# line sums what a request costs on these CPUs.
#
# cache (opt-in: BENCH_ROUNDS="nodejs cache"; needs the nodejs round's bare server): the
# node's response cache (issue 14) against what a user would otherwise deploy:
#   nginx    nginx proxy_cache (POST cached by URI and body) in front of the bare Node.js
#            server: every request after the first is served by nginx from its cache
#   hit      POST .../actions/cachedjs?blocking=true&result=true, a no-op that answers
#            __ow_cache: every invoke after the first is a hit (with its record)
#   warm     the nodejs round's warm invoke of noopjs, for the ratio hit/warm
# Goals: hits at least nginx's throughput, and at least 3x a warm invoke.
#
# Each round runs its three targets BENCH_REPEAT times (default 3), interleaved, and
# reports medians: one run on this VM moves by 15-40% from the next.
# Needs root (the node loads BPF maps and makes sandboxes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "invoke.sh: needs root" >&2; exit 1; }
export XWHISK_PREWARM=
BENCH_ROUNDS=${BENCH_ROUNDS:-native nodejs}
BENCH_NODEJS_CONNECTIONS=${BENCH_NODEJS_CONNECTIONS:-1 16}
rounds_has() { case " $BENCH_ROUNDS " in *" $1 "*) return 0 ;; esac; return 1; }
js_main=$noop_js_main

if rounds_has nodejs; then
	# A copy of the runtimes (the manifest's directory is what sandboxes see of them) with
	# kind bare:1 added: its command is the bare server.
	cp -r "$bin/runtimes" "$bench_tmp/runtimes"
	bare_server_js >"$bench_tmp/runtimes/bare-server.js"
	python3 - "$bench_tmp/runtimes/runtimes.json" <<'PY'
import json, sys
path = sys.argv[1]
m = json.load(open(path))
m["runtimes"]["bare"] = [{
    "kind": "bare:1", "default": True, "deprecated": False,
    "image": {"prefix": "xwhisk", "name": "bench-bare", "tag": "latest"},
    "attached": False, "requireMain": False,
    "sandbox": {"command": ["node", "${XWHISK_RUNTIMES}/bare-server.js"],
                "env": {"BARE_SANDBOX": "1"}, "stemCells": 0, "memory": 256}}]
json.dump(m, open(path, "w"), indent=1)
PY
	export XWHISK_RUNTIMES=$bench_tmp/runtimes/runtimes.json
fi

start_xwhisk
bench_user
GUEST_AUTH=$key

# warm_sandbox [ACTION_IDS_TO_SKIP]: "ACTION_ID IP PORT PID" of a warm sandbox in the slots
# map (of another action than those given, separated by spaces).
warm_sandbox() {
	slots_dump | awk -v skip=" ${1:-} " '$2 == 2 && index(skip, " " $3 " ") == 0 { print $3, $5, $6, $7; exit }'
}

# sandbox_pids PID: the processes of the sandbox whose init is PID; without one, those of
# every sandbox of this run (from their cgroups; v1 lists a process once per hierarchy).
sandbox_pids() {
	if [ "${1:-0}" != 0 ] && [ -d "/proc/$1" ]; then
		proc_tree "$1"
	else
		cat $(find /sys/fs/cgroup -path "*xwhisk-$XWHISK_SANDBOX_BRIDGE*" -name cgroup.procs \
			2>/dev/null) 2>/dev/null | sort -un | tr '\n' ' '
	fi
}

run_body() { # run_body ACTION: what the node sends to /run
	printf '{"value":{},"namespace":"bench","action_name":"/bench/%s","action_version":"0.0.1","activation_id":"00000000000000000000000000000000","transaction_id":"bench","deadline":"99999999999999"}' "$1"
}

if rounds_has native; then
	# A no-op action-loop executable: one JSON line in, {} out on fd 3.
	put_action noop native "$(printf '#!/bin/sh\nwhile read -r line; do echo "{}" >&3; done\n')"
	read -r native_id sb_ip sb_port sb_init < <(warm_sandbox) || true
	[ -n "${sb_ip:-}" ] || { echo "invoke.sh: no warm native sandbox found" >&2; exit 1; }
	start_nginx "$sb_port" "$sb_ip" native
	native_nginx_port=$NGINX_PORT
	native_nginx_pids=$(nginx_pids native)
	sb_pids=$(sandbox_pids "$sb_init")
fi

if rounds_has nodejs; then
	# The Node.js kind of the runtimes manifest (the family's default), and the node binary
	# its sandboxes run: "node" looked up in the sandbox's PATH (userspace/sandbox/kinds.h).
	js_kind=${BENCH_NODEJS_KIND:-$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["runtimes"]["nodejs"]
print(next((k for k in r if k.get("default")), r[0])["kind"])' "$bin/runtimes/runtimes.json")}
	node_bin=${BENCH_NODE_BIN:-$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v node)}
	put_action noopjs "$js_kind" "$js_main"
	read -r js_id js_ip js_port js_init < <(warm_sandbox "${native_id:-}") || true
	[ -n "${js_ip:-}" ] || { echo "invoke.sh: no warm $js_kind sandbox found" >&2; exit 1; }
	js_pids=$(sandbox_pids "$js_init")
	put_action noopbare bare:1 "$js_main"
	read -r bare_id bare_ip bare_port bare_init < <(warm_sandbox "${native_id:-} $js_id") || true
	[ -n "${bare_ip:-}" ] || { echo "invoke.sh: no warm bare:1 sandbox found" >&2; exit 1; }
	bare_pids=$(sandbox_pids "$bare_init")

	start_bare_server "$node_bin"
	start_nginx "$server_port" 127.0.0.1 nodejs
	js_nginx_port=$NGINX_PORT
	js_nginx_pids=$(nginx_pids nodejs)
	make -C "$top" --no-print-directory BUILD="${bin#$top/}" "${bin#$top/}/bench/relay_floor" >/dev/null
	relay_port=$(free_port)
	"$bin/bench/relay_floor" "$relay_port" "$server_port" 2 >"$bench_tmp/relay.log" 2>&1 &
	bench_pids+=("$!")
	wait_port "$relay_port"
	relay_pids=$(pgrep -f "relay_floor $relay_port " | tr '\n' ' ')
	echo "nodejs: kind $js_kind, $node_bin $("$node_bin" --version), sandbox $js_ip:$js_port" \
		"(pids $js_pids), bare server pid $server_pid, bare:1 sandbox $bare_ip:$bare_port" \
		"(pids $bare_pids)"
fi

if rounds_has cache; then
	rounds_has nodejs || { echo "invoke.sh: the cache round needs the nodejs round" >&2; exit 1; }
	# put_action's first invoke runs it and fills the cache: then every invoke is a hit.
	put_action cachedjs "$js_kind" 'function main(params) { return { __ow_cache: { ttl: 86400 } } }'
	# proxy_cache keeps every 200 answer to a POST for an hour, keyed by URI and body; its
	# workers write the cache files into the benchmark's private directory, so as root.
	mkdir -p "$bench_tmp/nginx-cache/cache"
	NGINX_MAIN='user root;' \
		NGINX_HTTP='client_body_buffer_size 64k; proxy_cache_path $NGINX_DIR/cache keys_zone=bench:10m max_size=64m;' \
		NGINX_LOCATION='proxy_cache bench; proxy_cache_methods POST; proxy_cache_key "$request_uri|$request_body"; proxy_cache_valid 200 1h;' \
		start_nginx "$server_port" 127.0.0.1 cache
	cache_nginx_port=$NGINX_PORT
	cache_nginx_pids=$(nginx_pids cache)
fi

node_pid=$NODE_PID
controller_pid=$CONTROLLER_PID

pin() { # pin CPUS PIDS...
	local cpu=$1 pid
	shift
	for pid in "$@"; do taskset -a -p -c "$cpu" "$pid" >/dev/null 2>&1 || true; done
}
# place free|cpu0|apart: every process of the benchmark (none but ours) on both CPUs, all
# on CPU 0, or all on CPU 0 but the controller (on CPU 1).
place() {
	local all="$node_pid $controller_pid ${native_nginx_pids:-} ${sb_pids:-} ${js_nginx_pids:-} ${js_pids:-} ${bare_pids:-} ${server_pid:-} ${cache_nginx_pids:-} ${relay_pids:-}"
	case $1 in
	free) pin "0-$(($(nproc) - 1))" $all ;;
	cpu0) pin 0 $all ;;
	apart) pin 0 $all && pin 1 $controller_pid ;;
	esac
}

# direct asks for the run's logs in band, as the node does (the actions' default limit,
# 10 MB): without it a runtime ends each run with sentinels on its pipes instead.
direct_logs=$((10 << 20))

native_round() {
	local i
	for i in $(seq 1 "${BENCH_REPEAT:-3}"); do
		WRK_LOGS=$direct_logs measure direct "http://$sb_ip:$sb_port/run" "$(run_body noop)" $sb_pids
		measure nginx "http://127.0.0.1:$native_nginx_port/run" "$(run_body noop)" $native_nginx_pids
		measure xwhisk "$api/actions/noop?blocking=true&result=true" '{}' $node_pid -- $sb_pids
		wait_records_shipped
	done
}

nodejs_round() {
	local i
	# the controller's share too: it stores each invoke's record on the same two CPUs
	local BENCH_CONTROLLER_PID=$controller_pid
	for i in $(seq 1 "${BENCH_REPEAT:-3}"); do
		WRK_LOGS=$direct_logs measure direct "http://$js_ip:$js_port/run" "$(run_body noopjs)" $js_pids
		measure nginx "http://127.0.0.1:$js_nginx_port/" '{}' $js_nginx_pids -- $server_pid
		measure relay "http://127.0.0.1:$relay_port/" '{}' $relay_pids -- $server_pid
		measure xwhisk "$api/actions/noopjs?blocking=true&result=true" '{}' $node_pid -- $js_pids
		measure xwhisk-bare "$api/actions/noopbare?blocking=true&result=true" '{}' $node_pid -- $bare_pids
		wait_records_shipped
	done
}

cache_round() {
	local i
	for i in $(seq 1 "${BENCH_REPEAT:-3}"); do
		measure nginx "http://127.0.0.1:$cache_nginx_port/" '{}' $cache_nginx_pids
		measure hit "$api/actions/cachedjs?blocking=true&result=true" '{}' $node_pid
		measure warm "$api/actions/noopjs?blocking=true&result=true" '{}' $node_pid -- $js_pids
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

# The Node.js rounds: a table of medians, then the ratios the goals are stated in.
report_nodejs() {
	python3 - "$1" "$2" <<'PY'
import json, statistics, sys
label = sys.argv[1]
runs = {}
for l in sys.argv[2].splitlines():
    name, rest = l.split(' ', 1)
    runs.setdefault(name, []).append(json.loads(rest))
med = lambda rs, k: statistics.median(x[k] for x in rs)
r = {name: {k: med(rs, k) for k in rs[0]} for name, rs in runs.items()}
d, n, x, xb, f = r['direct'], r['nginx'], r['xwhisk'], r['xwhisk-bare'], r['relay']
# "front": the process on the request's way (the sandbox itself for direct); "behind": what
# serves the request behind it
what = {'direct': ('POST /run to the sandbox', 'sandbox', ''),
        'nginx': ('nginx -> bare Node.js server', 'nginx', 'server'),
        'relay': ('relay_floor -> the bare server', 'relay', 'server'),
        'xwhisk': ('xwhisk blocking invoke', 'xwhisk-node', 'sandbox'),
        'xwhisk-bare': ('xwhisk -> the bare server', 'xwhisk-node', 'server')}
# the controller's CPU a request, during the run and while its records were shipped after
ctl = lambda v: v.get('controller_cpu_us_per_req', 0) + v.get('controller_after_us_per_req', 0)
print(f"[{label}] {len(runs['xwhisk'])} runs, medians")
print(f"  {'target':<29} {'req/s':>7} {'p50':>9} {'p99':>9}  {'front':<11} {'CPU/req':>10} {'sw/req':>6}"
      f"  {'behind':<7} {'CPU/req':>10} {'sw/req':>6}  {'controller':>10}  errors")
for t in ('direct', 'nginx', 'relay', 'xwhisk', 'xwhisk-bare'):
    v, (desc, front, back) = r[t], what[t]
    b = (f"{v['backend_cpu_us_per_req']:>7.1f} us {v['backend_switches_per_req']:>6.2f}"
         if back and 'backend_cpu_us_per_req' in v else f"{'':>10} {'':>6}")
    print(f"  {desc:<29} {v['rps']:>7.0f} {v['p50_us']:>6.0f} us {v['p99_us']:>6.0f} us  {front:<11} "
          f"{v['cpu_us_per_req']:>7.1f} us {v['switches_per_req']:>6.2f}  {back:<7} {b}  "
          f"{ctl(v):>7.1f} us  {v['errors']:.0f}")
ratios = [a['rps'] / b['rps'] for a, b in zip(runs['xwhisk'], runs['nginx'])]
print(f"  throughput xwhisk/nginx {x['rps']/n['rps']:.2f}x (per run {min(ratios):.2f}-{max(ratios):.2f}x), "
      f"xwhisk/direct {x['rps']/d['rps']:.2f}x, nginx/direct {n['rps']/d['rps']:.2f}x")
print(f"  CPU per request xwhisk-node/nginx {x['cpu_us_per_req']/max(n['cpu_us_per_req'], 0.1):.2f}x; "
      f"added over direct: xwhisk p50 {x['p50_us']-d['p50_us']:.0f} us p99 {x['p99_us']-d['p99_us']:.0f} us, "
      f"nginx+server p50 {n['p50_us']-d['p50_us']:.0f} us p99 {n['p99_us']-d['p99_us']:.0f} us, "
      f"relay+server (the floor) p50 {f['p50_us']-d['p50_us']:.0f} us p99 {f['p99_us']-d['p99_us']:.0f} us")
# Throughput on two CPUs shared by wrk and everything behind it follows the CPU each
# request costs there: the node, the sandbox and the controller storing its record,
# against nginx and the server (which keep no record).
xs = x['cpu_us_per_req'] + x.get('backend_cpu_us_per_req', 0)
ns = n['cpu_us_per_req'] + n.get('backend_cpu_us_per_req', 0)
print(f"  CPU per request on these CPUs: xwhisk node+sandbox {xs:.1f} us + controller {ctl(x):.1f} us "
      f"({x.get('controller_cpu_us_per_req', 0):.1f} during the run, {x.get('controller_after_us_per_req', 0):.1f} after) "
      f"= {xs + ctl(x):.1f} us; nginx+server {ns:.1f} us; nginx/xwhisk {ns / max(xs + ctl(x), 0.1):.2f}x "
      f"(without the controller {ns / max(xs, 0.1):.2f}x)")
bratios = [a['rps'] / b['rps'] for a, b in zip(runs['xwhisk-bare'], runs['nginx'])]
print(f"  the same server behind both: xwhisk/nginx {xb['rps']/n['rps']:.2f}x "
      f"(per run {min(bratios):.2f}-{max(bratios):.2f}x), CPU per request xwhisk-node/nginx "
      f"{xb['cpu_us_per_req']/max(n['cpu_us_per_req'], 0.1):.2f}x")
PY
}

if rounds_has native; then
	place free
	echo "-- native: unpinned, $BENCH_CONNECTIONS connections"
	unpinned=$(native_round)
	echo "$unpinned"
	report unpinned "$unpinned"

	echo "-- native: everything pinned to CPU 0 (wrk, node, controller, nginx, sandbox), 1 connection"
	place cpu0
	pinned=$(BENCH_CONNECTIONS=1 BENCH_THREADS=1 WRK_PREFIX="taskset -c 0" native_round)
	echo "$pinned"
	report pinned "$pinned"

	# The controller is not on the invocation path (it takes the records, in batches,
	# afterwards) and in a cluster runs elsewhere: the same, with it on the other CPU.
	echo "-- native: pinned to CPU 0 except the controller (CPU 1), 1 connection"
	place apart
	apart=$(BENCH_CONNECTIONS=1 BENCH_THREADS=1 WRK_PREFIX="taskset -c 0" native_round)
	echo "$apart"
	report controller-apart "$apart"
fi

if rounds_has nodejs; then
	place free
	for c in $BENCH_NODEJS_CONNECTIONS; do
		echo "-- nodejs: unpinned, $c connection(s)"
		t=$BENCH_THREADS
		[ "$c" -lt "$t" ] && t=$c
		out=$(BENCH_CONNECTIONS=$c BENCH_THREADS=$t nodejs_round)
		echo "$out"
		report_nodejs "nodejs $c conn" "$out"
	done

	echo "-- nodejs: pinned to CPU 0 except the controller (CPU 1), 1 connection"
	place apart
	out=$(BENCH_CONNECTIONS=1 BENCH_THREADS=1 WRK_PREFIX="taskset -c 0" nodejs_round)
	echo "$out"
	report_nodejs "nodejs pinned, controller apart" "$out"
fi

if rounds_has cache; then
	place free
	for c in $BENCH_NODEJS_CONNECTIONS; do
		echo "-- cache: unpinned, $c connection(s)"
		t=$BENCH_THREADS
		[ "$c" -lt "$t" ] && t=$c
		out=$(BENCH_CONNECTIONS=$c BENCH_THREADS=$t cache_round)
		echo "$out"
		python3 - "cache $c conn" "$out" <<'PY'
import json, statistics, sys
label = sys.argv[1]
runs = {}
for l in sys.argv[2].splitlines():
    name, rest = l.split(' ', 1)
    runs.setdefault(name, []).append(json.loads(rest))
r = {name: {k: statistics.median(x[k] for x in rs) for k in rs[0]} for name, rs in runs.items()}
n, h, w = r['nginx'], r['hit'], r['warm']
print(f"[{label}] {len(runs['hit'])} runs, medians: hit {h['rps']:.0f} req/s p50 {h['p50_us']:.0f} us "
      f"p99 {h['p99_us']:.0f} us; nginx proxy_cache {n['rps']:.0f} req/s p50 {n['p50_us']:.0f} us; "
      f"warm invoke {w['rps']:.0f} req/s p50 {w['p50_us']:.0f} us; hit/nginx {h['rps']/n['rps']:.2f}x "
      f"(goal >= 1), hit/warm {h['rps']/w['rps']:.2f}x (goal >= 3); added over nginx p50 "
      f"{h['p50_us']-n['p50_us']:.0f} us; CPU per request xwhisk-node {h['cpu_us_per_req']} us, "
      f"nginx {n['cpu_us_per_req']} us; errors hit {h['errors']} nginx {n['errors']} warm {w['errors']}")
PY
	done
fi
