#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two controllers with XWHISK_LEASE against the fake API server: one holds the
# coordination.k8s.io Lease and allocates, the other is on standby (503); when the
# leader dies, the other takes the Lease over and allocates.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -x "$BUILD/xwhisk-controller" ] || { echo "not ok - $BUILD/xwhisk-controller is built"; exit 1; }
fake_start_rbac "$TOP/k8s/rbac.yaml" --node n1 --path-map "/opt/xwhisk=$BUILD"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	fake_stop
}
trap cleanup EXIT
TOKEN=k8s-lease-test-token-k8s-lease-test-token-k8s-lease-test-tok01
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

declare -A port pid
for who in a b; do
	port[$who]=$(free_port)
	XWHISK_BACKEND=kubernetes XWHISK_KUBE_API="$FAKE_URL" XWHISK_KUBE_NAMESPACE=xwhisk \
		XWHISK_KUBE_TOKEN_FILE="$CTL_KUBE_TOKEN_FILE" XWHISK_LEASE=xwhisk-controller XWHISK_LEASE_IDENTITY="ctl-$who" \
		XWHISK_LEASE_DURATION_S=2 XWHISK_LEASE_RENEW_MS=300 \
		XWHISK_NODE_TOKEN=$TOKEN XWHISK_NODE_LOST_MS=600000 \
		"$BUILD/xwhisk-controller" -l "127.0.0.1:${port[$who]}" -d "$FAKE_DIR/$who" \
		>>"$FAKE_DIR/$who.log" 2>&1 &
	pid[$who]=$!
	pids+=($!)
	[ $who = a ] && sleep 1 # a runs first: it should win
done

holder() {
	curl -s "$FAKE_URL/apis/coordination.k8s.io/v1/namespaces/xwhisk/leases/xwhisk-controller" |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin).get("spec",{}).get("holderIdentity",""))' 2>/dev/null
}
register() { # WHO
	curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		"http://127.0.0.1:${port[$1]}/internal/v1/nodes" \
		-d '{"name":"n1","address":"127.0.0.1:1","memory_mb":2048,"cpu_milli":2000}' >/dev/null
}
allocate() { # WHO: the HTTP status and error of an allocation there
	curl -s -o "$FAKE_DIR/alloc" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
		-H 'Content-Type: application/json' "http://127.0.0.1:${port[$1]}/internal/v1/allocate" \
		-d '{"subject":"guest","docid":"guest/x","action_id":"00000000000000bb","kind":"nodejs:20","revision":1,"memory_mb":128,"concurrency":1,"node":"n1"}'
	echo " $(head -c 200 "$FAKE_DIR/alloc")"
}

for _ in $(seq 50); do [ "$(holder)" = ctl-a ] && break; sleep 0.1; done
sleep 1
# the node registers with both (b while it is on standby: its twin comes at its election)
register a
register b
h=$(holder)
out_b=$(allocate b)
out_a=$(allocate a)
if [ "$h" = ctl-a ] && [[ "$out_b" == 503*standby* ]] && [[ "$out_a" == 200* ]]; then
	ok "one controller holds the Lease and allocates; the other is on standby (503)"
else
	not_ok "one controller holds the Lease and allocates; the other is on standby" "holder '$h', a: $out_a, b: $out_b"
fi

{ kill -9 "${pid[a]}"; wait "${pid[a]}"; } 2>/dev/null
for _ in $(seq 80); do [ "$(holder)" = ctl-b ] && break; sleep 0.1; done
sleep 0.5
h=$(holder)
out_b=$(allocate b)
transitions=$(curl -s "$FAKE_URL/apis/coordination.k8s.io/v1/namespaces/xwhisk/leases/xwhisk-controller" |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["spec"].get("leaseTransitions"))')
if [ "$h" = ctl-b ] && [[ "$out_b" == 200* ]] && [ "$transitions" = 1 ]; then
	ok "when the leader dies, the other takes the Lease over (one transition) and allocates"
else
	not_ok "when the leader dies, the other takes the Lease over" "holder '$h', transitions $transitions, b: $out_b; $(tail -n 3 "$FAKE_DIR/b.log" | tr '\n' ' ')"
fi

[ "$failures" -eq 0 ]
