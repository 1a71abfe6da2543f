#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Stem cell pods (XWHISK_POD_PREWARM): every node keeps its prewarmed pods of a kind,
# ready; an allocation of that kind and memory takes one over (relabelled as the
# sandbox's pod, no pod created) and is warm after its /init alone; another stem cell
# takes its place; an allocation of another memory size gets a pod of its own; a stem cell
# that dies is replaced; removing a sandbox that was a stem cell deletes that pod; a
# restarted controller adopts a stem cell that became a sandbox, and the stem cells.
# The node agent is played by curl, as in pod_backend.sh.
set -uo pipefail
CTL_ENV="XWHISK_POD_PREWARM=nodejs:20=2 XWHISK_POD_STEM_MEMORY_MB=256 XWHISK_LOG_LEVEL=${XWHISK_LOG_LEVEL:-debug}"
. "$(dirname "${BASH_SOURCE[0]}")/pod_harness.bash"

# pods SELECTOR: "name podIP ready" of the matching pods, one a line
pods() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/pods?labelSelector=$1" | "$PY" -c '
import json,sys
for p in json.load(sys.stdin)["items"]:
    st = p.get("status", {}); md = p["metadata"]
    if md.get("deletionTimestamp"): continue
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions", []))
    print(md["name"], st.get("podIP", ""), "ready" if ready else "-")'
}
stems() { pods 'xwhisk.dev/stem-cell%3Dnodejs_20'; }
ready_stems() { [ "$(stems | grep -c ' ready$')" -eq "$1" ]; }

if ! start_controller; then
	echo "not ok - the controller starts with XWHISK_POD_PREWARM: $(tail -n 5 "$FAKE_DIR/controller.log")"
	exit 1
fi
put_hello 'function main(p) { return {greeting: "hello " + p.name}; }'
register 4096 >/dev/null

check "a registered node gets two ready stem cell pods of nodejs:20" wait_for 20 ready_stems 2
stem_names=$(stems | awk '{print $1}' | sort)

# Ready in the fake before the controller's watch has told it, on a loaded machine.
sleep 2
id=$(allocate 256)
took_stem() {
	[ ${#id} -eq 32 ] && is_warm "$id" &&
		grep -qx "$(pods "xwhisk.dev/sandbox%3D$id" | awk '{print $1}')" <<<"$stem_names"
}
check "an allocation of the kind and the stem cells' memory takes one over and is warm" wait_for 15 took_stem
claimed=$(pods "xwhisk.dev/sandbox%3D$id" | awk '{print $1}')
no_pod_of_its_own() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$FAKE_URL/api/v1/namespaces/xwhisk/pods/xw-$id")" = 404 ]; }
check "... without a pod of its own (no xw-<id>)" no_pod_of_its_own
addr=$(sandbox_field "$id" addr)
runs() { curl -s -X POST -H 'Content-Type: application/json' "http://$addr:8080/run" -d '{"value":{"name":"stem"}}' | grep -q '"greeting":"hello stem"'; }
check "... and runs the action at the stem cell's address" runs
no_stem_label() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/pods/$claimed" | "$PY" -c '
import json,sys; l = json.load(sys.stdin)["metadata"]["labels"]
sys.exit(0 if "xwhisk.dev/stem-cell" not in l and l["xwhisk.dev/action"] == "00000000000000aa" else 1)'
}
check "... relabelled: the sandbox's labels, no stem cell label" wait_for 10 no_stem_label
check "another stem cell takes its place" wait_for 20 ready_stems 2

big=$(allocate 512)
own_pod() { is_warm "$big" && [ "$(curl -s -o /dev/null -w '%{http_code}' "$FAKE_URL/api/v1/namespaces/xwhisk/pods/xw-$big")" = 200 ]; }
check "an allocation of another memory size gets a pod of its own" wait_for 20 own_pod

victim=$(stems | awk '$3 == "ready" {print $1; exit}')
curl -s -X POST "$FAKE_URL/fake/kill-pod?namespace=xwhisk&name=$victim" >/dev/null
replaced() { ! stems | grep -q "^$victim " && ready_stems 2; }
check "a stem cell that dies is replaced" wait_for 20 replaced

# A restarted controller: the claimed pod comes back as the warm sandbox, the stem cells
# as stem cells (not deleted, no more made).
kill "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
CTL_PID=
stems_before=$(stems | awk '{print $1}' | sort | tr '\n' ' ')
start_controller || not_ok "the controller starts again" "$(tail -n 3 "$FAKE_DIR/controller.log")"
register 4096 >/dev/null
check "a restarted controller adopts the stem cell that became a sandbox" wait_for 20 is_warm "$id"
same_stems() { [ "$(stems | awk '{print $1}' | sort | tr '\n' ' ')" = "$stems_before" ]; }
sleep 2
check "... and keeps the stem cells as they were" same_stems

internal POST "/sandboxes/$id/broken" '{"node":"n1"}' >/dev/null
pod_gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$FAKE_URL/api/v1/namespaces/xwhisk/pods/$claimed")" = 404 ]; }
check "removing that sandbox deletes the stem cell's pod it took over" wait_for 15 pod_gone

check "every call of the controller was its service account's, allowed by k8s/rbac.yaml" rbac_allowed_all
echo "$failures failed"
[ "$failures" -eq 0 ]
