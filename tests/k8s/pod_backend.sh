#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The pod backend (XWHISK_BACKEND=kubernetes) against the fake API server and its fake
# kubelet (node n1): an allocation becomes a pod bound to n1; Ready + podIP become /init
# and a warm sandbox at podIP:8080 that runs the action; a 410 on the watch makes it list
# again; a pod deleted or dead leaves the pool; removing a sandbox deletes its pod; a
# restarted controller adopts the ready pods once their node registers again.
# The node agent is played by curl here (register, allocate): no BPF, no root needed.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/pod_harness.bash"

is_gone() { [ -z "$(sandbox_field "$1" state)" ]; }
pod_gone() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$FAKE_URL/api/v1/namespaces/xwhisk/pods/xw-$1")" = 404 ]; }
pod_json() { curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/pods/xw-$1"; }

if ! start_controller; then
	echo "not ok - the controller starts with XWHISK_BACKEND=kubernetes: $(tail -n 5 "$FAKE_DIR/controller.log")"
	exit 1
fi
ok "the controller starts with XWHISK_BACKEND=kubernetes"

put_hello 'function main(p) { return {greeting: "hello " + p.name, pod: process.env.POD_IP || ""}; }'
register >/dev/null

id=$(allocate)
if [ ${#id} -eq 32 ] && wait_for 10 is_warm "$id"; then
	ok "an allocation becomes a pod, Ready becomes /init and a warm sandbox"
else
	not_ok "an allocation becomes a pod, Ready becomes /init and a warm sandbox" \
		"id '$id', state '$(sandbox_field "$id" state)': $(tail -n 5 "$FAKE_DIR/controller.log" | tr '\n' ' ')"
fi

out=$(pod_json "$id" | "$PY" -c '
import json,sys
p = json.load(sys.stdin); c = p["spec"]["containers"][0]; l = p["metadata"]["labels"]
print(p["spec"]["nodeName"], l["xwhisk.dev/action"], l["xwhisk.dev/revision"], l["xwhisk.dev/namespace"],
      c["resources"]["limits"]["memory"], c["ports"][0]["containerPort"], c["command"][0], c["command"][2], p["spec"]["restartPolicy"])')
if [ "$out" = "n1 00000000000000aa 1 guest 128Mi 8080 /opt/xwhisk/xwhisk-proxy \$(POD_IP):8080 Never" ]; then
	ok "the pod: nodeName, labels, memory from the limits, the runtime's command on :8080"
else
	not_ok "the pod: nodeName, labels, memory from the limits, the runtime's command on :8080" "$out"
fi

addr=$(sandbox_field "$id" addr)
port=$(sandbox_field "$id" port)
ip=$(pod_json "$id" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"]["podIP"])')
out=$(curl -s -X POST -H 'Content-Type: application/json' "http://$addr:$port/run" -d '{"value":{"name":"k8s"}}')
if [ "$addr" = "$ip" ] && [ "$port" = 8080 ] && grep -q '"greeting":"hello k8s"' <<<"$out"; then
	ok "the warm sandbox is the pod's address and runs the action (/run)"
else
	not_ok "the warm sandbox is the pod's address and runs the action (/run)" "$addr:$port (pod $ip): $out"
fi

# 410: the API forgets its history; the watch relists, and keeps following.
lists_before=$(curl -s "$FAKE_URL/fake/requests" | "$PY" -c '
import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["method"]=="GET" and r["path"].endswith("/pods") and "watch" not in r["query"]))')
curl -s -X POST "$FAKE_URL/fake/compact" >/dev/null
relisted() {
	[ "$(curl -s "$FAKE_URL/fake/requests" | "$PY" -c '
import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["method"]=="GET" and r["path"].endswith("/pods") and "watch" not in r["query"]))')" -gt "$lists_before" ]
}
if wait_for 10 relisted && is_warm "$id"; then
	ok "a 410 Gone on the watch makes the backend list again; the sandbox stays warm"
else
	not_ok "a 410 Gone on the watch makes the backend list again" "$(grep -i 'pods:' "$FAKE_DIR/controller.log" | tail -n 3 | tr '\n' ' ')"
fi

# A broken stream resumes from the last version seen (no new list); a pod deleted
# behind our back (kubectl delete pod) then leaves the pool.
lists() {
	curl -s "$FAKE_URL/fake/requests" | "$PY" -c '
import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["method"]=="GET" and r["path"].endswith("/pods") and "watch" not in r["query"]))'
}
watches() {
	curl -s "$FAKE_URL/fake/requests" | "$PY" -c '
import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["path"].endswith("/pods") and r["query"].get("watch")))'
}
sleep 0.5
lists_before=$(lists)
watches_before=$(watches)
curl -s -X POST "$FAKE_URL/fake/drop-watches" >/dev/null
resumed() { [ "$(watches)" -gt "$watches_before" ]; }
wait_for 10 resumed
curl -s -X DELETE "$FAKE_URL/api/v1/namespaces/xwhisk/pods/xw-$id" >/dev/null
if wait_for 10 is_gone "$id" && [ "$(lists)" = "$lists_before" ]; then
	ok "a broken watch resumes without a list; a pod deleted through the API leaves the pool"
else
	not_ok "a broken watch resumes without a list; a pod deleted through the API leaves the pool" \
		"state $(sandbox_field "$id" state), lists $lists_before -> $(lists)"
fi

# A pod whose process dies: Failed, out of the pool, deleted.
id=$(allocate)
wait_for 10 is_warm "$id"
curl -s -X POST "$FAKE_URL/fake/kill-pod?namespace=xwhisk&name=xw-$id" >/dev/null
event_for() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/events" | "$PY" -c "
import json,sys
sys.exit(0 if any(e['involvedObject']['name'] == 'xw-$1' and e['reason'] == 'SandboxLost' and e['type'] == 'Warning'
                  for e in json.load(sys.stdin)['items']) else 1)"
}
if wait_for 10 is_gone "$id" && wait_for 10 pod_gone "$id" && wait_for 5 event_for "$id"; then
	ok "a pod that dies leaves the pool, is deleted, and a Warning event says so"
else
	not_ok "a pod that dies leaves the pool, is deleted, and a Warning event says so" "state $(sandbox_field "$id" state)"
fi

# Removing a sandbox (here: reported broken; the GC's sweep takes the same path) deletes its pod.
id=$(allocate)
wait_for 10 is_warm "$id"
internal POST "/sandboxes/$id/broken" '{"node":"n1"}' >/dev/null
if wait_for 10 is_gone "$id" && wait_for 10 pod_gone "$id"; then
	ok "removing a sandbox deletes its pod"
else
	not_ok "removing a sandbox deletes its pod" "$(pod_json "$id" | head -c 300)"
fi

# /init fails in the pod (a syntax error): the sandbox fails, the pod goes, an event says why.
curl -s -o /dev/null -u "$GUEST" -X PUT -H 'Content-Type: application/json' \
	"$CTL/api/v1/namespaces/_/actions/broken" -d '{"exec":{"kind":"nodejs:20","code":"function main( {"}}'
id=$(internal POST /allocate '{"subject":"guest","docid":"guest/broken","action_id":"00000000000000cc","kind":"nodejs:20","revision":1,"memory_mb":128,"concurrency":1,"node":"n1"}' |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["sandbox"]["id"])')
init_event() {
	curl -s "$FAKE_URL/api/v1/namespaces/xwhisk/events" | "$PY" -c "
import json,sys
sys.exit(0 if any(e['involvedObject']['name'] == 'xw-$id' and e['reason'] == 'InitFailed'
                  for e in json.load(sys.stdin)['items']) else 1)"
}
if wait_for 10 is_gone "$id" && wait_for 10 pod_gone "$id" && wait_for 5 init_event; then
	ok "an /init that fails in the pod fails the sandbox, deletes the pod, records InitFailed"
else
	not_ok "an /init that fails in the pod fails the sandbox, deletes the pod, records InitFailed" \
		"state $(sandbox_field "$id" state); $(grep -i 'pods:' "$FAKE_DIR/controller.log" | tail -n 2 | tr '\n' ' ')"
fi

# A restarted controller adopts the ready pods once the node registers again; a pod whose
# annotation holds numbers out of range (written by whoever may write pods) is not adopted
# but deleted as unknown.
id=$(allocate)
wait_for 10 is_warm "$id"
bad=$(allocate)
wait_for 10 is_warm "$bad"
kill "$CTL_PID"
wait "$CTL_PID"
note=$(pod_json "$bad" | "$PY" -c 'import json,sys
n=json.loads(json.load(sys.stdin)["metadata"]["annotations"]["xwhisk.dev/sandbox"])
n["memory_mb"]=-5
print(json.dumps({"metadata":{"annotations":{"xwhisk.dev/sandbox":json.dumps(n)}}}))')
curl -s -o /dev/null -X PATCH -H 'Content-Type: application/merge-patch+json' -d "$note" \
	"$FAKE_URL/api/v1/namespaces/xwhisk/pods/xw-$bad"
start_controller || not_ok "the controller starts again" "$(tail -n 3 "$FAKE_DIR/controller.log")"
sleep 0.5
register >/dev/null
if wait_for 10 is_warm "$id" && [ "$(sandbox_field "$id" addr)" = "$(pod_json "$id" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["status"]["podIP"])')" ]; then
	ok "a restarted controller adopts its ready pods as warm sandboxes"
else
	not_ok "a restarted controller adopts its ready pods" "state $(sandbox_field "$id" state): $(tail -n 3 "$FAKE_DIR/controller.log" | tr '\n' ' ')"
fi
if wait_for 10 pod_gone "$bad" && is_gone "$bad"; then
	ok "a pod whose annotation is out of range is not adopted but deleted"
else
	not_ok "a pod whose annotation is out of range is not adopted" "state $(sandbox_field "$bad" state); $(pod_json "$bad" | head -c 200)"
fi

# An API server that accepts and never answers: the controller starts (pods keep serving
# without the API), and stops at once on SIGTERM rather than waiting out its calls.
kill "$CTL_PID"
wait "$CTL_PID"
CTL_PID=
"$PY" -c 'import socket,time,sys; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(16)
open(sys.argv[1],"w").write(str(s.getsockname()[1])); conns=[]
while True: conns.append(s.accept())' "$FAKE_DIR/hole" &
hole=$!
wait_for 5 test -s "$FAKE_DIR/hole"
FAKE_URL_SAVED=$FAKE_URL
FAKE_URL="http://127.0.0.1:$(cat "$FAKE_DIR/hole")"
start_controller
FAKE_URL=$FAKE_URL_SAVED
sleep 1
t0=$SECONDS
kill "$CTL_PID"
wait "$CTL_PID"
status=$?
CTL_PID=
kill "$hole"
wait "$hole" 2>/dev/null
if [ $((SECONDS - t0)) -le 3 ] && [ $status -eq 0 ]; then
	ok "with an API server that never answers, the controller still stops at once"
else
	not_ok "with an API server that never answers, the controller still stops at once" \
		"$((SECONDS - t0)) s, status $status"
fi
check "every call of the controller was its service account's, allowed by k8s/rbac.yaml" rbac_allowed_all

[ "$failures" -eq 0 ]
