#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# CPU, system calls and context switches of xwhisk-node per request, over a fixed number
# of requests (perf stat -p on the node while wrk sends N requests over CONNS connections):
# figures that, unlike throughput, hardly move when other work shares the machine.
#   scripts/bench/per-request.sh [N (20000)] [CONNS (1)]
# TARGETS (default "hit warm web"): hit (a cached invoke, issue 14), warm (a warm blocking
# invoke of a Node.js no-op), large (the same with a 16 KB result: 256 string members),
# web (a web GET of a Node.js action), nginx-cache and
# nginx-proxy (nginx proxy_cache / proxy_pass in front of a bare Node.js server, for
# comparison), nginx-proxy-log (the same proxy_pass with an access log, one line a request,
# as a proxy in production keeps: what a per-request record costs nginx). STRACE=1 adds a
# per-call breakdown (strace -f -c, 2,000 requests: slow, and periodic work of the manager
# thread weighs more there); PROFILE=1 a perf record per target in
# /tmp/xwhisk-per-request.TARGET.perf.data. SANDBOX_CPU=1 adds the CPU of the node's
# sandboxes per request (their processes' ticks). ALLOCS=1 counts malloc, calloc and
# realloc calls per request (uprobes on libc, 2,000 requests; the probes' traps make that
# pass slow, so it has no CPU figure); ALLOCS=record also records their call stacks in
# /tmp/xwhisk-per-request.TARGET.allocs.data. XWHISK_BIN: the build to measure. Needs
# root. Instructions per request (user+kernel) are shown where the machine has a PMU (not
# in most VMs: "n/a"); they move even less with load than CPU time. REPEAT=K runs the
# targets K times in turn on the same system (every other turn in the reverse order), then
# prints each target's median CPU per request and, for each target after the first, the
# median and range of its CPU over the first target's in the same turn (pairs cancel the
# machine's drift).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export XWHISK_PREWARM=
N=${1:-20000}
C=${2:-1}
alloc_probes=probe_libc:malloc,probe_libc:calloc,probe_libc:realloc
if [ -n "${ALLOCS:-}" ]; then
	libc=$(ldd "$(command -v wrk)" | awk '/libc.so/ {print $3}')
	trap 'perf probe -q -d "probe_libc:*" 2>/dev/null; bench_cleanup' EXIT
	for f in malloc calloc realloc; do
		perf probe -q -x "$libc" -a "$f" 2>/dev/null || true
	done
	[[ $(perf list 2>/dev/null) == *probe_libc:malloc* ]] || { echo "ALLOCS=1: no uprobes on $libc" >&2; exit 1; }
fi
start_xwhisk
bench_user
GUEST_AUTH=$key
put_action noopjs nodejs:20 'function main(params) { return {} }'
put_action cachedjs nodejs:20 'function main(params) { return { __ow_cache: { ttl: 86400 } } }'
if [[ " ${TARGETS:-} " == *" large "* ]]; then
	put_action largejs nodejs:20 'const r = {}; for (let i = 0; i < 256; i++) r["key" + i] = "value ".repeat(8) + i;
function main(params) { return r }'
fi
put_action webjs nodejs:20 'function main(params) { return { body: "hi" } }' ',"annotations":[{"key":"web-export","value":true}]'
if [[ " ${TARGETS:-} " == *nginx* ]]; then
start_bare_server
start_nginx "$server_port" 127.0.0.1 nodejs
js_nginx_port=$NGINX_PORT
NGINX_LOCATION='access_log $NGINX_DIR/access.log;' start_nginx "$server_port" 127.0.0.1 nodejs-log
log_nginx_port=$NGINX_PORT
mkdir -p "$bench_tmp/nginx-cache/cache"
NGINX_MAIN='user root;' \
	NGINX_HTTP='client_body_buffer_size 64k; proxy_cache_path $NGINX_DIR/cache keys_zone=bench:10m max_size=64m;' \
	NGINX_LOCATION='proxy_cache bench; proxy_cache_methods POST; proxy_cache_key "$request_uri|$request_body"; proxy_cache_valid 200 1h;' \
	start_nginx "$server_port" 127.0.0.1 cache
cache_nginx_port=$NGINX_PORT
fi
auth64=$(printf '%s' "$key" | base64 -w0)
# CPU ticks of the node's sandboxes: their inits are the node's children, the rest theirs.
sandbox_ticks() {
	local p all=""
	for p in $(pgrep -P "$NODE_PID"); do all="$all $p $(pgrep -P "$p" | tr '\n' ' ')"; done
	for p in $all; do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null; done | awk '{s += $1} END {print s + 0}'
}
requests_of() { # requests_of WRK_JSON_LINE: how many requests count.lua counted
	python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])' <<<"$1"
}
run() { # run NAME METHOD URL BODY [PIDS]
	local name=$1 url=$3 out pids=${5:-$NODE_PID}
	# One command line for every pass below; each pass sets WRK_N, its number of requests.
	export WRK_AUTH=$auth64 WRK_METHOD=$2 WRK_BODY=$4
	local wrk=(wrk -t1 -c"$C" -d60s -s "$top/scripts/bench/count.lua" "$url")
	# warm up
	WRK_N=500 "${wrk[@]}" >/dev/null
	wait_records_shipped
	local t0; t0=$(sandbox_ticks)
	out=$(WRK_N=$N perf stat -x, -e task-clock,raw_syscalls:sys_enter,context-switches,instructions:u,instructions:k -p "$pids" -- \
		"${wrk[@]}" 2>"$bench_tmp/perf.err" | tail -1)
	local ms; ms=$(awk -F, '/task-clock/ {print $1}' "$bench_tmp/perf.err")
	local reqs; reqs=$(requests_of "$out")
	local sc; sc=$(awk -F, '/raw_syscalls/ {print $1}' "$bench_tmp/perf.err")
	local cs; cs=$(awk -F, '/context-switches/ {print $1}' "$bench_tmp/perf.err")
	local iu ik insns=n/a
	iu=$(awk -F, '/instructions:u/ {print $1}' "$bench_tmp/perf.err")
	ik=$(awk -F, '/instructions:k/ {print $1}' "$bench_tmp/perf.err")
	[[ $iu =~ ^[0-9]+$ && $ik =~ ^[0-9]+$ ]] && insns="$((iu / reqs))u+$((ik / reqs))k"
	[ -n "${SANDBOX_CPU:-}" ] && echo "  sandboxes: CPU $(python3 -c "print(round(($(sandbox_ticks) - $t0) * 1e6 / $(getconf CLK_TCK) / $reqs, 1))") us/req"
	cpu_of[$name]="${cpu_of[$name]:-} $(python3 -c "print($ms*1000/$reqs)")"
	echo "$name c=$C: $reqs req, CPU $(python3 -c "print(round($ms*1000/$reqs,1))") us/req, syscalls $(python3 -c "print(round($sc/$reqs,2))")/req, switches $(python3 -c "print(round($cs/$reqs,2))")/req, instructions $insns/req (p50 $(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["p50_us"])') us)"
	wait_records_shipped
	if [ -n "${PROFILE:-}" ]; then
		WRK_N=$N perf record -F 4999 --call-graph dwarf,16384 -o "/tmp/xwhisk-per-request.$name.perf.data" -p "$pids" -- \
			"${wrk[@]}" >/dev/null 2>&1
		wait_records_shipped
	fi
	if [ -n "${ALLOCS:-}" ]; then
		out=$(WRK_N=2000 perf stat -x, -e "$alloc_probes" -p "$pids" -- "${wrk[@]}" 2>"$bench_tmp/perf.err" | tail -1)
		reqs=$(requests_of "$out")
		echo "  allocations per request ($reqs requests): $(awk -F, -v r="$reqs" '/probe_libc/ {split($3, e, ":"); printf "%s %.2f  ", e[2], $1 / r}' "$bench_tmp/perf.err")"
		wait_records_shipped
		if [ "$ALLOCS" = record ]; then # who allocates: perf report -i this file
			WRK_N=500 perf record -q -e "$alloc_probes" --call-graph dwarf,8192 \
				-o "/tmp/xwhisk-per-request.$name.allocs.data" -p "$pids" -- "${wrk[@]}" >/dev/null 2>&1
			wait_records_shipped
		fi
	fi
	if [ -n "${STRACE:-}" ]; then
		strace -f -c -o "$bench_tmp/strace.$name" $(for p in ${pids//,/ }; do echo -p $p; done) &
		local sp=$!
		sleep 1
		out=$(WRK_N=2000 "${wrk[@]}" | tail -1)
		sleep 0.3
		kill -INT $sp; wait $sp || true
		reqs=$(requests_of "$out")
		echo "  syscalls per request ($reqs requests):"
		awk -v r="$reqs" '$1 ~ /^[0-9.]+$/ && NF >= 5 { name=$NF; calls=$4; printf "    %-16s %.2f\n", name, calls/r } /total/ {printf "    %-16s %.2f\n", "total", $3/r}' "$bench_tmp/strace.$name"
		wait_records_shipped
	fi
}
declare -A cpu_of # target: its CPU per request in each turn
for turn in $(seq "${REPEAT:-1}"); do
	# Even turns take the targets in the reverse order (ABBA), so that going first or
	# second in a turn, which moves the figure by a few per cent, weighs on each alike.
	order=(${TARGETS:-hit warm web})
	[ $((turn % 2)) = 1 ] || order=($(printf '%s\n' "${order[@]}" | tac))
	for t in "${order[@]}"; do
		case $t in
		hit) run hit POST "$api/actions/cachedjs?blocking=true&result=true" '{}' ;;
		warm) run warm POST "$api/actions/noopjs?blocking=true&result=true" '{}' ;;
		large) run large POST "$api/actions/largejs?blocking=true&result=true" '{}' ;;
		nginx-cache) run nginx-cache POST "http://127.0.0.1:$cache_nginx_port/" '{}' "$(nginx_pids cache | tr ' ' ,)" ;;
		nginx-proxy) run nginx-proxy POST "http://127.0.0.1:$js_nginx_port/" '{}' "$(nginx_pids nodejs | tr ' ' ,)" ;;
		nginx-proxy-log) run nginx-proxy-log POST "http://127.0.0.1:$log_nginx_port/" '{}' "$(nginx_pids nodejs-log | tr ' ' ,)" ;;
		web) run web GET "http://127.0.0.1:$NODE_PORT/api/v1/web/bench/default/webjs" '' ;;
		esac
	done
done
if [ "${REPEAT:-1}" -gt 1 ]; then
	targets=(${TARGETS:-hit warm web})
	for t in "${targets[@]}"; do echo "$t ${cpu_of[$t]}"; done | python3 -c '
import statistics, sys
rows = [l.split() for l in sys.stdin]
first, base = rows[0][0], [float(x) for x in rows[0][1:]]
for name, *cpu in rows:
    cpu = [float(x) for x in cpu]
    line = f"{name} c='"$C"': median CPU {statistics.median(cpu):.1f} us/req over {len(cpu)} turns"
    if name != first:
        r = sorted(c / b for c, b in zip(cpu, base))
        line += f"; over {first} in the same turn: median {statistics.median(r):.2f}x ({r[0]:.2f}-{r[-1]:.2f}x), under 1 in {sum(x < 1 for x in r)} of {len(r)}"
    print(line)'
fi
