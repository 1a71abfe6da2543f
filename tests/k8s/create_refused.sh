#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A pod the cluster refuses to create (a ResourceQuota's 403 "exceeded quota", a 422
# Invalid; the fake's /fake/refuse-creates): the starting sandbox fails as a node's own
# failed start does (a `failed` event with OpenWhisk's "Failed to provision a sandbox for
# the action.", whisk error), leaves the pool and gives its memory back, no pod is left,
# and the log says why; a stem cell pod refused is forgotten and made again at the next
# tick. The node agent is played by curl, as in pod_backend.sh.
set -uo pipefail
CTL_ENV="XWHISK_POD_PREWARM=nodejs:20=1 XWHISK_POD_STEM_MEMORY_MB=256"
. "$(dirname "${BASH_SOURCE[0]}")/pod_harness.bash"

refuse() { curl -s -X POST "$FAKE_URL/fake/refuse-creates?resource=pods&count=1&as=$1" >/dev/null; }
# "status name" of the controller's pod creates, one a line
creates() {
	curl -s "$FAKE_URL/fake/requests" | "$PY" -c '
import json,sys
for r in json.load(sys.stdin):
    if r["method"] == "POST" and r["auth"] == "user" and r["path"].endswith("/pods"):
        print(r.get("status"))'
}
pod_count() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/pods" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'
}
stem_ready() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/pods?labelSelector=xwhisk.dev/stem-cell" | "$PY" -c '
import json,sys
sys.exit(0 if any(c["type"] == "Ready" and c["status"] == "True"
                  for p in json.load(sys.stdin)["items"]
                  for c in p.get("status", {}).get("conditions", [])) else 1)'
}
# the `failed` event of sandbox $1 on the nodes' event stream, replayed from the start of
# this run's epoch: "message whisk"
# (the stream stays open: curl ends it, status 28)
events() { curl -s -m 1 -H "Authorization: Bearer $TOKEN" "$CTL/internal/v1/events?$1"; }
failed_event() {
	local epoch stream
	epoch=$(events since=0 | head -n 1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["epoch"])')
	stream=$(events "epoch=$epoch&since=0")
	"$PY" -c '
import json,sys
for line in sys.stdin:
    e = json.loads(line)
    if e.get("op") == "failed" and (e.get("sandbox") or {}).get("id") == sys.argv[1]:
        print(e.get("message"), e.get("whisk")); sys.exit(0)
sys.exit(1)' "$1" <<<"$stream"
}

if ! start_controller; then
	echo "not ok - the controller starts: $(tail -n 5 "$FAKE_DIR/controller.log")"
	exit 1
fi
put_hello 'function main(p) { return {}; }'

# The stem cell's create is refused: forgotten, made again.
refuse quota
register 1024 >/dev/null
check "a stem cell pod refused (403 exceeded quota) is made again at a later tick" wait_for 20 stem_ready
out=$(creates | tr '\n' ' ')
if [[ "$out" == "403 201 "* ]]; then
	ok "... the first create was refused, the next made it"
else
	not_ok "... the first create was refused, the next made it" "creates: $out"
fi

# An allocation whose pod is refused; 768 MB: all the node has left besides the stem cell.
refuse quota
id=$(allocate 768)
gone() { [ ${#id} -eq 32 ] && [ -z "$(sandbox_field "$id" state)" ]; }
check "an allocation whose pod is refused leaves the pool" wait_for 10 gone
out=$(failed_event "$id")
if [ "$out" = "Failed to provision a sandbox for the action. True" ]; then
	ok "... with a failed event to the nodes: OpenWhisk's whisk error"
else
	not_ok "... with a failed event to the nodes: OpenWhisk's whisk error" "'$out'"
fi
no_pod() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$FAKE_URL/api/v1/namespaces/xwhisk/pods/xw-$id")" = 404 ] && [ "$(pod_count)" = 1 ]; }
check "... no pod of it (only the stem cell)" no_pod
check "... and the log says why (the API's message)" \
	grep -q "cannot create pod xw-$id: pods \"xw-$id\" is forbidden: exceeded quota" "$FAKE_DIR/controller.log"

refuse invalid
id3=$(allocate 768)
gone3() { [ ${#id3} -eq 32 ] && [ -z "$(sandbox_field "$id3" state)" ] && failed_event "$id3" >/dev/null; }
check "a pod refused as Invalid (422) fails its sandbox the same way" wait_for 10 gone3
id2=$(allocate 768)
warm2() { [ ${#id2} -eq 32 ] && is_warm "$id2"; }
check "their memory is free again: the next allocation of 768 MB is made and warm" wait_for 20 warm2

check "every create but the three refused was allowed" test "$(creates | grep -vc 201)" = 3
check "every call of the controller was its service account's, allowed by k8s/rbac.yaml (the refusals were no RBAC's)" rbac_allowed_all

echo "$failures failed"
[ "$failures" -eq 0 ]
