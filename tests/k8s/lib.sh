# SPDX-License-Identifier: Apache-2.0
# Shared by tests/k8s/*.sh: a fake API server of the test's own, and TAP-like results.
#   fake_start [fake_apiserver.py options...]   sets FAKE_URL, FAKE_PID, FAKE_DIR
#   fake_start_rbac RBAC_YAML [options...]: with RBAC_YAML stored and enforced for the
#     controller's service account, whose token is in CTL_KUBE_TOKEN_FILE (for
#     XWHISK_KUBE_TOKEN_FILE); the tests' own calls (no token) are an administrator's
#   fake_stop
#   ok NAME / not_ok NAME WHY / check NAME COMMAND...
K8S_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$K8S_TESTS/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
failures=0
# the interpreter itself, not a version manager's shim: the tests call it often
PY=$(python3 -c 'import sys; print(sys.executable)')

ok() { echo "ok - $1"; }
not_ok() {
	echo "not ok - $1: $2"
	failures=$((failures + 1))
}
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$(tail -n 5 <<<"$out" | tr '\n' ' ')"; fi
}

fake_start() {
	FAKE_DIR=$(mktemp -d /tmp/xwhisk-k8s.XXXXXX)
	"$PY" "$K8S_TESTS/fake_apiserver.py" --port-file "$FAKE_DIR/port" "$@" \
		>"$FAKE_DIR/apiserver.log" 2>&1 &
	FAKE_PID=$!
	for _ in $(seq 100); do
		[ -s "$FAKE_DIR/port" ] && break
		sleep 0.05
	done
	if [ ! -s "$FAKE_DIR/port" ]; then
		echo "not ok - the fake API server started: $(tail -n 5 "$FAKE_DIR/apiserver.log")"
		exit 1
	fi
	FAKE_URL="http://127.0.0.1:$(cat "$FAKE_DIR/port")"
	# kubectl reads no kubeconfig of the machine's: only what the test passes.
	export KUBECONFIG="$FAKE_DIR/kubeconfig"
	cat >"$KUBECONFIG" <<EOC
apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: "$FAKE_URL"}}]
users: [{name: fake, user: {token: fake}}]
contexts: [{name: fake, context: {cluster: fake, user: fake}}]
current-context: fake
EOC
}

CTL_SA=system:serviceaccount:xwhisk:xwhisk-controller
fake_start_rbac() {
	local rbac=$1 token
	shift
	token=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')
	fake_start --rbac "$rbac" --user "$token=$CTL_SA" "$@"
	CTL_KUBE_TOKEN_FILE="$FAKE_DIR/controller-token"
	echo "$token" >"$CTL_KUBE_TOKEN_FILE"
}

fake_stop() {
	[ -n "${FAKE_PID:-}" ] && kill "$FAKE_PID" 2>/dev/null && wait "$FAKE_PID" 2>/dev/null
	[ -n "${FAKE_DIR:-}" ] && rm -rf "$FAKE_DIR"
	FAKE_PID=
}
wait_for() { # SECONDS COMMAND...: until the command succeeds
	local until=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt "$until" ]; do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
