#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The pod backend through the fake API server (tests/k8s/fake_apiserver.py and its fake
# kubelet), beside the local backend, with the control-plane benchmark's simulated nodes
# (scripts/bench/simnodes.c: each applies every sandbox event to a BPF map of its own):
#   local   BENCH_PODS sandboxes on BENCH_NODES simulated nodes that report them warm at
#           once: placements per second, publication -> every node's map
#   pods    the same allocations with XWHISK_BACKEND=kubernetes: pods created per second
#           (the API server's POSTs, first to last), Ready (written by the fake kubelet)
#           -> /init -> the warm event in every node's map, and publication -> map
# Every pod is a real xwhisk-proxy with Node.js (the fake kubelet runs it): keep
# BENCH_PODS to what the machine holds (about 40 MB each).
#   scripts/bench/pods.sh      # as root (BPF maps); BENCH_NODES (3), BENCH_PODS (20),
#                              # BENCH_POD_CONCURRENCY (allocations in flight, 8)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODES=${BENCH_NODES:-3}
PODS=${BENCH_PODS:-20}
CONC=${BENCH_POD_CONCURRENCY:-8}
make -C "$top" --no-print-directory BUILD="${bin#$top/}" "${bin#$top/}/bench/simnodes" >/dev/null

start_controller() { # start_controller PORT DIR [ENV...]: sets ctl_pid
	local port=$1 data=$2
	shift 2
	mkdir -p "$data"
	env "$@" XWHISK_LOG_LEVEL=warn "$bin/xwhisk-controller" -d "$data" -l "127.0.0.1:$port" \
		>>"$bench_tmp/controller.log" 2>&1 &
	ctl_pid=$!
	bench_pids+=("$ctl_pid")
	wait_port "$port"
}

local_backend() {
	local port data
	port=$(free_port)
	data=$bench_tmp/local
	start_controller "$port" "$data"
	"$bin/bench/simnodes" 127.0.0.1 "$port" "$(cat "$data/controller/node.token")" "$NODES" \
		"$PODS" "$CONC"
	kill "$ctl_pid"
	wait "$ctl_pid" 2>/dev/null || true
}

pod_backend() {
	local port data fake_port nodes=() i
	for i in $(seq 1 "$NODES"); do nodes+=(--node "sim$i"); done
	python3 "$top/tests/k8s/fake_apiserver.py" --port-file "$bench_tmp/fake.port" "${nodes[@]}" \
		--path-map "/opt/xwhisk=$bin" >"$bench_tmp/fake.log" 2>&1 &
	bench_pids+=("$!")
	for _ in $(seq 100); do [ -s "$bench_tmp/fake.port" ] && break; sleep 0.05; done
	fake_port=$(cat "$bench_tmp/fake.port")
	fake="http://127.0.0.1:$fake_port"
	curl -sf -X POST -H 'Content-Type: application/json' "$fake/api/v1/namespaces" \
		-d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"xwhisk"}}' >/dev/null
	port=$(free_port)
	data=$bench_tmp/pods
	start_controller "$port" "$data" XWHISK_BACKEND=kubernetes XWHISK_KUBE_API="$fake" \
		XWHISK_KUBE_NAMESPACE=xwhisk XWHISK_START_TIMEOUT_MS=120000
	curl -sf -u "$GUEST_AUTH" -X PUT -H 'Content-Type: application/json' \
		"http://127.0.0.1:$port/api/v1/namespaces/_/actions/a" \
		-d '{"exec":{"kind":"nodejs:20","code":"function main(p) { return p }"}}' >/dev/null
	curl -s -X POST "$fake/fake/clear-requests" >/dev/null
	SIM_SUBJECT=guest SIM_DOCID=guest/a SIM_SETTLE_MS=120000 \
		SIM_APPLIED_FILE="$bench_tmp/applied" "$bin/bench/simnodes" 127.0.0.1 "$port" \
		"$(cat "$data/controller/node.token")" "$NODES" "$PODS" "$CONC" >"$bench_tmp/sim.json"
	curl -s "$fake/fake/requests" >"$bench_tmp/requests.json"
	curl -s "$fake/fake/ready-times" >"$bench_tmp/ready.json"
	python3 - "$bench_tmp" <<'PY'
import json, sys
d = sys.argv[1]
sim = json.load(open(f"{d}/sim.json"))
posts = sorted(r["t"] for r in json.load(open(f"{d}/requests.json"))
               if r["method"] == "POST" and r["path"].endswith("/pods"))
ready = json.load(open(f"{d}/ready.json"))
lat = []
for line in open(f"{d}/applied"):
    sid, us = line.split()
    t = ready.get("xw-" + sid)
    if t is not None:
        lat.append(int(us) / 1e6 - t)
lat.sort()
pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1) if lat else None
span = posts[-1] - posts[0] if len(posts) > 1 else 0
sim["pods_created"] = len(posts)
sim["pods_created_per_s"] = round((len(posts) - 1) / span, 1) if span > 0 else None
sim["ready_to_every_map_ms"] = {"n": len(lat), "p50": pct(0.5), "p90": pct(0.9),
                                "p99": pct(0.99), "max": round(lat[-1] * 1000, 1) if lat else None}
print(json.dumps(sim))
PY
}

# (not in $(...): the processes they start must be in this shell's bench_pids)
local_backend >"$bench_tmp/local.out"
echo "local $(cat "$bench_tmp/local.out")"
pod_backend >"$bench_tmp/pods.out"
echo "pods $(cat "$bench_tmp/pods.out")"
