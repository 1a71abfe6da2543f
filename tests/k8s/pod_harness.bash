# SPDX-License-Identifier: Apache-2.0
# Sourced by the pod backend's shell tests (pod_backend.sh, stem_pods.sh): the fake API
# server with its kubelet for node n1, a controller on the pod backend, and the node
# agent's calls played by curl (register, allocate). No BPF, no root needed.
# The controller calls the API as its service account, under RBAC as in a cluster: the
# fake grants its token only what the Role of k8s/rbac.yaml grants (403 otherwise).
#   CTL_ENV: extra VAR=value words for the controller (e.g. XWHISK_POD_PREWARM=...).
#   RBAC: the manifests of the controller's Role and binding (default k8s/rbac.yaml).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for p in xwhisk-controller xwhisk-proxy; do
	if [ ! -x "$BUILD/$p" ]; then
		echo "not ok - $BUILD/$p is built (make test-build)"
		exit 1
	fi
done
fake_start_rbac "${RBAC:-$TOP/k8s/rbac.yaml}" --node n1 --path-map "/opt/xwhisk=$BUILD"
CTL_PID=
cleanup() {
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	fake_stop
}
trap cleanup EXIT

TOKEN=k8s-test-node-token-k8s-test-node-token-k8s-test-node-token-0123
GUEST=23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP
CTL_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
CTL="http://127.0.0.1:$CTL_PORT"

start_controller() {
	# shellcheck disable=SC2086
	env XWHISK_BACKEND=kubernetes XWHISK_KUBE_API="$FAKE_URL" XWHISK_KUBE_NAMESPACE=xwhisk \
		XWHISK_KUBE_TOKEN_FILE="$CTL_KUBE_TOKEN_FILE" XWHISK_NODE_TOKEN=$TOKEN XWHISK_NODE_LOST_MS=600000 XWHISK_POD_ADOPT_WAIT_MS=20000 \
		XWHISK_LOG_LEVEL=${XWHISK_LOG_LEVEL:-info} ${CTL_ENV:-} \
		"$BUILD/xwhisk-controller" -l "127.0.0.1:$CTL_PORT" -d "$FAKE_DIR/data" \
		>>"$FAKE_DIR/controller.log" 2>&1 &
	CTL_PID=$!
	for _ in $(seq 100); do
		curl -sf "$CTL/ping" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
put_hello() { # CODE: the nodejs:20 action "hello" created through the controller, or not_ok
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' -u "$GUEST" -X PUT -H 'Content-Type: application/json' \
		"$CTL/api/v1/namespaces/_/actions/hello" \
		-d "{\"exec\":{\"kind\":\"nodejs:20\",\"code\":$(printf '%s' "$1" | "$PY" -c 'import json, sys; print(json.dumps(sys.stdin.read()))')}}")
	[ "$code" = 200 ] || not_ok "an action is created" "status $code"
}
internal() { # METHOD PATH [BODY]
	curl -s -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
		"$CTL/internal/v1$2" ${3:+-d "$3"}
}
register() { # [MEMORY_MB]: node n1 (re)registers
	internal POST /nodes "{\"name\":\"n1\",\"address\":\"127.0.0.1:1\",\"memory_mb\":${1:-2048},\"cpu_milli\":2000}"
}
allocate() { # [MEMORY_MB]: a nodejs:20 sandbox on n1; prints its id
	internal POST /allocate "{\"subject\":\"guest\",\"docid\":\"guest/hello\",\"action_id\":\"00000000000000aa\",\"kind\":\"nodejs:20\",\"revision\":1,\"memory_mb\":${1:-128},\"concurrency\":1,\"node\":\"n1\"}" |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["sandbox"]["id"])'
}
sandbox_field() { # ID FIELD: from the pool, "" when it is not there
	internal GET /sandboxes | "$PY" -c "
import json,sys
for s in json.load(sys.stdin)['sandboxes']:
    if s['id'] == '$1': print(s['$2'])"
}
is_warm() { [ "$(sandbox_field "$1" state)" = warm ]; }
# The controller called the API with its service account's token, and the Role let it do
# all it called for (a verb missing from k8s/rbac.yaml is a 403 here).
rbac_allowed_all() {
	curl -s "$FAKE_URL/fake/requests" | "$PY" -c '
import json,sys
mine = [r for r in json.load(sys.stdin) if r["agent"] == "xwhisk-controller"]
bad = ["%s %s: %s" % (r["method"], r["path"], r.get("status")) for r in mine
       if r.get("rbac_denied") or r["auth"] != "user"]
print("; ".join(bad) or "%d calls" % len(mine)); sys.exit(1 if bad or not mine else 0)'
}
