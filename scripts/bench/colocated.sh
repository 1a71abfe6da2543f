#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What a record store on the same two CPUs costs any proxy at one connection: nginx
# proxy_pass and relay_floor (a relay that parses nothing) in front of the bare Node.js
# server, each alone and with `ballast` beside it, CPU work in bursts as the controller
# stores records (BURST_US of CPU every PERIOD_US; the defaults, 2.5 ms every 20 ms, are
# 12.5 % of a CPU: the controller's 18-20 µs a record at 6,000-7,000 records a second, in
# its batches of 2-3 ms). Burning a loop pollutes the caches less than SQLite does, so
# the figures are the least such work costs. wrk -t1 -c1, BENCH_DURATION (10s) a target,
# the four targets in turn REPEAT (4) times, every other turn in the reverse order (the
# runs in /tmp/xwhisk-colocated.runs); prints each target's median throughput and
# latencies, and each one's throughput over nginx's alone in the same turn.
#   scripts/bench/colocated.sh            as root, on a quiet machine
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BURST_US=${BURST_US:-2500}
PERIOD_US=${PERIOD_US:-20000}
make -C "$top" --no-print-directory BUILD="${bin#$top/}" "${bin#$top/}/bench/relay_floor" \
	"${bin#$top/}/bench/ballast" >/dev/null
start_bare_server
start_nginx "$server_port" 127.0.0.1 nodejs
nginx_port=$NGINX_PORT
relay_port=$(free_port)
"$bin/bench/relay_floor" "$relay_port" "$server_port" 2 >"$bench_tmp/relay.log" 2>&1 &
bench_pids+=($!)
wait_port "$relay_port"
GUEST_AUTH=
export WRK_METHOD=POST WRK_BODY='{}'

# The runs' lines, kept after the script (bench_tmp is removed).
out=/tmp/xwhisk-colocated.runs
# run TARGET URL [ballast]: one wrk run, with the ballast beside it when asked
run() {
	local b=
	if [ "${3:-}" = ballast ]; then
		"$bin/bench/ballast" "$BURST_US" "$PERIOD_US" &
		b=$!
	fi
	BENCH_THREADS=1 BENCH_CONNECTIONS=1 run_wrk "$1" "$2"
	[ -z "$b" ] || { kill "$b"; wait "$b" 2>/dev/null || true; }
}

targets=(nginx nginx+ballast relay relay+ballast)
for turn in $(seq "${REPEAT:-4}"); do
	# every other turn in the reverse order, so that no target always goes first
	order=("${targets[@]}")
	[ $((turn % 2)) = 1 ] || order=(relay+ballast relay nginx+ballast nginx)
	for t in "${order[@]}"; do
		case $t in
		nginx*) url=http://127.0.0.1:$nginx_port/ ;;
		relay*) url=http://127.0.0.1:$relay_port/ ;;
		esac
		run "$t" "$url" "${t#*+}"
	done
done >"$out"
python3 - "$out" "$BURST_US" "$PERIOD_US" <<'PY'
import json, statistics, sys
runs = {}
for l in open(sys.argv[1]):
    name, rest = l.split(" ", 1)
    runs.setdefault(name, []).append(json.loads(rest))
base = [r["rps"] for r in runs["nginx"]]
print(f"ballast: {sys.argv[2]} us of CPU every {sys.argv[3]} us; wrk -t1 -c1; medians of {len(base)} turns")
for name in ("nginx", "nginx+ballast", "relay", "relay+ballast"):
    rs = runs[name]
    ratio = sorted(r["rps"] / b for r, b in zip(rs, base))
    rps, p50, p90, p99 = (statistics.median(r[k] for r in rs) for k in ("rps", "p50_us", "p90_us", "p99_us"))
    print(f"{name:15} {rps:9.0f} req/s  p50 {p50:5.0f} us  p90 {p90:5.0f} us  p99 {p99:6.0f} us  "
          f"over nginx alone: median {statistics.median(ratio):.2f}x ({ratio[0]:.2f}-{ratio[-1]:.2f}x)")
PY
