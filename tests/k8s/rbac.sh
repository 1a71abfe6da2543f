#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fake API server enforces the controller's Role (pod_harness.bash runs every pod
# backend test under k8s/rbac.yaml): with a Role that lacks `patch` on pods, claiming a
# stem cell pod is refused as a cluster refuses it (403 Forbidden, the real message) and
# the pod keeps its stem cell labels, so a missing verb in k8s/rbac.yaml fails the suite.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RBAC=$(mktemp /tmp/xwhisk-rbac.XXXXXX.yaml)
sed 's/verbs: \[create, list, watch, delete, patch\]/verbs: [create, list, watch, delete]/' \
	"$here/../../k8s/rbac.yaml" >"$RBAC"
CTL_ENV="XWHISK_POD_PREWARM=nodejs:20=1 XWHISK_POD_STEM_MEMORY_MB=256"
. "$here/pod_harness.bash"
trap 'cleanup; rm -f "$RBAC"' EXIT

if cmp -s "$RBAC" "$TOP/k8s/rbac.yaml"; then
	echo "not ok - k8s/rbac.yaml grants patch on pods where this test removes it"
	exit 1
fi
if ! start_controller; then
	echo "not ok - the controller starts: $(tail -n 5 "$FAKE_DIR/controller.log")"
	exit 1
fi
put_hello 'function main(p) { return {}; }'
register 4096 >/dev/null

stem_ready() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/pods?labelSelector=xwhisk.dev/stem-cell" | "$PY" -c '
import json,sys
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True"
                  for p in json.load(sys.stdin)["items"]
                  for c in p.get("status", {}).get("conditions", [])) else 1)'
}
check "the Role allows the rest: a stem cell pod is created, listed and watched" wait_for 20 stem_ready

# The fake says Ready before the controller's watch has told it (a loaded machine: the
# allocation then got a pod of its own, and no PATCH came).
sleep 2
allocate 256 >/dev/null
# the fake's answer to the controller's PATCH of the claimed pod
patch_answer() {
	curl -s "$FAKE_URL/fake/requests" | "$PY" -c '
import json,sys
for r in json.load(sys.stdin):
    if r["method"] == "PATCH" and r["auth"] == "user" and "/pods/xw-stem-" in r["path"]:
        print(r.get("status"), r["path"].rsplit("/", 1)[1]); sys.exit(0)
sys.exit(1)'
}
check "the controller claims the stem cell with a PATCH of its labels" wait_for 15 patch_answer
read -r status pod < <(patch_answer)
if [ "$status" = 403 ]; then
	ok "without patch in the Role, the fake answers 403"
else
	not_ok "without patch in the Role, the fake answers 403" "status '$status'"
fi
msg="pods \"$pod\" is forbidden: User \"$CTL_SA\" cannot patch resource \"pods\" in API group \"\" in the namespace \"xwhisk\""
out=$(curl -s -X PATCH -H "Authorization: Bearer $(cat "$CTL_KUBE_TOKEN_FILE")" \
	-H 'Content-Type: application/merge-patch+json' "$FAKE_URL/api/v1/namespaces/xwhisk/pods/$pod" -d '{}')
if "$PY" -c 'import json,sys; b = json.loads(sys.argv[1]); sys.exit(0 if (b["kind"], b["reason"], b["code"], b["message"]) == ("Status", "Forbidden", 403, sys.argv[2]) else 1)' "$out" "$msg"; then
	ok "... with the real Status: reason Forbidden and the API server's message"
else
	not_ok "... with the real Status" "$out"
fi
still_stem() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/pods/$pod" | "$PY" -c '
import json,sys; sys.exit(0 if "xwhisk.dev/stem-cell" in json.load(sys.stdin)["metadata"]["labels"] else 1)'
}
check "... and the claim fails: the pod keeps its stem cell label" still_stem
check "the controller says so" grep -q "cannot relabel pod $pod" "$FAKE_DIR/controller.log"

echo "$failures failed"
[ "$failures" -eq 0 ]
