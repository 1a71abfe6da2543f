#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The controller finds the API server through a kubeconfig file (XWHISK_KUBECONFIG, else
# KUBECONFIG), against the fake API server on HTTPS that wants a token or a client
# certificate: a token and inline CA data (certificate-authority-data); a client
# certificate and CA as files relative to the kubeconfig (KUBECONFIG, a list, and
# XWHISK_KUBE_CONTEXT choosing the context); inline certificate data; a wrong token is
# refused by the server (401) and the controller says so; an exec plugin is refused at
# the start with a message.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for p in xwhisk-controller; do
	if [ ! -x "$BUILD/$p" ]; then
		echo "not ok - $BUILD/$p is built (make test-build)"
		exit 1
	fi
done
PKI=$(mktemp -d /tmp/xwhisk-kubeconfig.XXXXXX)
CTL_PID=
cleanup() {
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	fake_stop
	[ -n "${KEEP:-}" ] || rm -rf "$PKI"
}
trap cleanup EXIT

# A CA, the server's certificate for 127.0.0.1, and a client certificate, all from it.
(
	cd "$PKI" || exit 1
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=fake-ca
	openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1\n' >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt \
		-days 2 -extfile server.ext
	openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr \
		-subj "/CN=xwhisk-controller/O=xwhisk"
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2
) >"$PKI/openssl.log" 2>&1 || { echo "not ok - openssl made the test's certificates: $(tail -n 3 "$PKI/openssl.log")"; exit 1; }

API_TOKEN=kubeconfig-test-token
fake_start --tls-cert "$PKI/server.crt" --tls-key "$PKI/server.key" --client-ca "$PKI/ca.crt" \
	--token "$API_TOKEN"
API="https://127.0.0.1:$(cat "$FAKE_DIR/port")"
unset KUBECONFIG
fake() { curl -s --cacert "$PKI/ca.crt" "$@"; }
fake -f -X POST -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/json' \
	"$API/api/v1/namespaces" -d '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"xwhisk"}}' >/dev/null

TOKEN=k8s-test-node-token-k8s-test-node-token-k8s-test-node-token-0123
CTL_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
b64() { base64 -w0 <"$1"; }

# start_controller ENV...: the pod backend with only the given settings to find the API
start_controller() {
	rm -rf "$FAKE_DIR/data"
	env -u KUBECONFIG -u XWHISK_KUBE_API "$@" XWHISK_BACKEND=kubernetes XWHISK_NODE_TOKEN=$TOKEN \
		"$BUILD/xwhisk-controller" -l "127.0.0.1:$CTL_PORT" -d "$FAKE_DIR/data" \
		>"$FAKE_DIR/controller.log" 2>&1 &
	CTL_PID=$!
}
stop_controller() {
	[ -n "$CTL_PID" ] && kill "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	CTL_PID=
}
# pods_listed_with AUTH: the fake saw the controller list the xwhisk pods with that credential
pods_listed_with() {
	fake "$API/fake/requests" | "$PY" -c "
import json,sys
sys.exit(0 if any(r['path'] == '/api/v1/namespaces/xwhisk/pods' and r['auth'] == '$1'
                  for r in json.load(sys.stdin)) else 1)"
}
clear_requests() { fake -X POST "$API/fake/clear-requests" >/dev/null; }

cat >"$PKI/token.yaml" <<EOF2
apiVersion: v1
kind: Config
current-context: main
contexts:
- name: main
  context: {cluster: fake, user: bot, namespace: xwhisk}
clusters:
- name: fake
  cluster:
    server: $API
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: bot
  user:
    token: "$API_TOKEN"
EOF2
clear_requests
start_controller XWHISK_KUBECONFIG="$PKI/token.yaml"
check "a token and inline CA data: the controller lists its pods with the token" \
	wait_for 15 pods_listed_with token
stop_controller

# Files next to the kubeconfig, named relative to it; the second context is chosen.
mkdir -p "$PKI/conf/certs"
cp "$PKI/ca.crt" "$PKI/client.crt" "$PKI/client.key" "$PKI/conf/certs/"
cat >"$PKI/conf/config" <<EOF2
apiVersion: v1
kind: Config
current-context: other
contexts:
- {name: other, context: {cluster: nowhere, user: bot}}
- {name: cert, context: {cluster: fake, user: cert-user, namespace: xwhisk}}
clusters:
- {name: nowhere, cluster: {server: "https://127.0.0.1:1"}}
- name: fake
  cluster: {server: "$API", certificate-authority: certs/ca.crt}
users:
- {name: bot, user: {token: nope}}
- name: cert-user
  user:
    client-certificate: certs/client.crt
    client-key: certs/client.key
EOF2
clear_requests
start_controller KUBECONFIG="$PKI/conf/config:/nonexistent" XWHISK_KUBE_CONTEXT=cert
check "KUBECONFIG and XWHISK_KUBE_CONTEXT: a client certificate and CA from files relative to it" \
	wait_for 15 pods_listed_with cert
stop_controller

cat >"$PKI/data.yaml" <<EOF2
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u, namespace: xwhisk}}]
clusters: [{name: k, cluster: {server: "$API", certificate-authority-data: "$(b64 "$PKI/ca.crt")"}}]
users:
- name: u
  user: {client-certificate-data: "$(b64 "$PKI/client.crt")", client-key-data: "$(b64 "$PKI/client.key")"}
EOF2
clear_requests
start_controller XWHISK_KUBECONFIG="$PKI/data.yaml"
check "inline client certificate and key data" wait_for 15 pods_listed_with cert
stop_controller

sed "s/token: \"$API_TOKEN\"/token: wrong/" "$PKI/token.yaml" >"$PKI/wrong.yaml"
clear_requests
start_controller XWHISK_KUBECONFIG="$PKI/wrong.yaml"
refused() { pods_listed_with none && grep -q 'cannot list the pods.*status 401' "$FAKE_DIR/controller.log"; }
check "a wrong token: the server refuses it (401) and the controller says so" wait_for 15 refused
never_in() { ! pods_listed_with token; }
check "... and never got in" never_in
stop_controller

cat >"$PKI/exec.yaml" <<EOF2
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "$API"}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: aws}}}]
EOF2
start_controller XWHISK_KUBECONFIG="$PKI/exec.yaml"
exited_why() { ! kill -0 "$CTL_PID" 2>/dev/null && grep -q 'exec plugin' "$FAKE_DIR/controller.log"; }
check "an exec plugin: the controller does not start, and says why" wait_for 10 exited_why
stop_controller

echo "$failures failed"
[ "$failures" -eq 0 ]
