#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The control plane at scale: 100 simulated nodes (scripts/bench/simnodes.c: they
# register, heartbeat, watch the event stream, report their allocations warm and apply
# every sandbox event to a BPF map of their own) against one controller.
#   placements   10,000 sandboxes asked for as fast as 64 requests in flight allow
#   latency      2,000 sandboxes paced at 200/s: publication -> applied in every
#                node's map, over all (event, node) pairs
# The simulator runs all nodes in one thread on the same 2 cores as the controller:
# latency includes its queueing (the 100th node applies after the other 99).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODES=${BENCH_NODES:-100}
make -C "$top" --no-print-directory BUILD="${bin#$top/}" "${bin#$top/}/bench/simnodes" >/dev/null

run_phase() { # run_phase SANDBOXES CONCURRENCY [RATE]
	local port data
	port=$(free_port)
	data=$bench_tmp/ctl-$port
	mkdir -p "$data"
	XWHISK_LOG_LEVEL=warn "$bin/xwhisk-controller" -d "$data" -l "127.0.0.1:$port" \
		>>"$bench_tmp/controller.log" 2>&1 &
	local pid=$!
	wait_port "$port"
	"$bin/bench/simnodes" 127.0.0.1 "$port" "$(cat "$data/controller/node.token")" "$NODES" "$@"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}

echo "placements $(run_phase 10000 64)"
echo "latency $(run_phase 2000 64 200)"
