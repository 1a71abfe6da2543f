#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The node guards its own ingress. A whole xwhisk system (controller and node) runs in a
# network namespace and serves on 10.232.0.1:3233; the node attaches xdp_guard to that
# namespace's eth0 itself (XWHISK_XDP_IFACE). On one bridge (in "lan"):
#   bad   10.232.0.2  keeps sending wrong credentials: past XWHISK_GUARD_STRIKES 401s in a
#                     second its packets die in XDP (a new connection times out), counted
#                     as "blocked" on /metrics; the block expires and it gets 401 again
#   good  10.232.0.3  keeps being served meanwhile
# Addresses exist only inside these namespaces. Bounded (< 90 s); the trap stops the
# system, runs xwhisk-node --destroy (sandboxes, guard, pins) and removes the namespaces.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$top/tests/netns/lan.bash"
build=${BUILD:-build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
id=$$
ns_node=xwn-node-$id
ns_bad=xwn-bad-$id
ns_good=xwn-good-$id
node=10.232.0.1
url=http://$node:3233
tmp=$(mktemp -d /tmp/xwhisk-netns-node-guard.XXXXXX)
guest=23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP
run_pid=
failed=0

export XWHISK_DATA_DIR=$tmp/data XWHISK_NODE_LISTEN=$node:3233
export XWHISK_CONTROLLER_LISTEN=127.0.0.1:3234 XWHISK_CONTROLLER=http://127.0.0.1:3234
export XWHISK_BIN=$build XWHISK_CATALOG=0 XWHISK_PREWARM= XWHISK_LOG_LEVEL=warn
export XWHISK_PIN_DIR=/sys/fs/bpf/xwhisk-netns-node-$id XWHISK_SANDBOX_BRIDGE=xwn$id
export XWHISK_SANDBOX_SUBNET=169.254.236.0/24
export XWHISK_XDP_IFACE=eth0 XWHISK_XDP_MODE=auto XWHISK_GUARD_CGROUP=
export XWHISK_GUARD_STRIKES=20 XWHISK_GUARD_BLOCK_MS=4000

ok() { echo "ok - node guard: $1"; }
not_ok() {
	echo "not ok - node guard: $1: $2"
	failed=1
}
metric() { in_ns "$ns_node" curl -s --max-time 5 "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# status CODE of one request from ns with credentials (000: no answer in time)
status() { in_ns "$1" curl -s -o /dev/null -w '%{http_code}' --max-time "${3:-3}" -u "$2" "$url/api/v1/namespaces"; }

cleanup() {
	if [ -n "$run_pid" ]; then
		kill -TERM "$run_pid" 2>/dev/null
		wait "$run_pid" 2>/dev/null
	fi
	if [ -e "/run/netns/$ns_node" ]; then
		in_ns "$ns_node" "$build/xwhisk-node" --destroy >/dev/null 2>&1
	fi
	lan_down xwn "$id" node bad good
	rm -rf "$tmp" "$XWHISK_PIN_DIR"
	return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" -ne 0 ]; then
	echo "not ok - node guard: needs root"
	exit 1
fi

setup() {
	lan_up xwn "$id" 10.232.0 "" node bad good || return 1
	# Not through in_ns (a function): $! must be xwhisk-run itself, for the trap's TERM.
	nsenter --net="/run/netns/$ns_node" "$top/scripts/xwhisk-run" >"$tmp/run.log" 2>&1 &
	run_pid=$!
	for _ in $(seq 150); do
		[ "$(status "$ns_good" "$guest" 1)" = 200 ] && return 0
		sleep 0.1
	done
	return 1
}
if setup; then
	ok "the system serves in its namespace"
else
	not_ok "setup" "$(tail -5 "$tmp/run.log" | tr '\n' ' ')"
	exit 1
fi

if [ "$(metric 'xwhisk_guard_attached{mode="native"}')" = 1 ] ||
	[ "$(metric 'xwhisk_guard_attached{mode="generic"}')" = 1 ]; then
	ok "the node attached xdp_guard to eth0"
else
	not_ok "attach" "$(in_ns "$ns_node" curl -s "$url/metrics" | grep guard_attached)"
fi

# Wrong credentials, again and again, on one keep-alive connection, until the node closes it.
answered=$(in_ns "$ns_bad" python3 - "$node" <<'PY'
import base64, http.client, sys
auth = 'Basic ' + base64.b64encode(b'nobody:wrong').decode()
conn, n = http.client.HTTPConnection(sys.argv[1], 3233, timeout=2), 0
for _ in range(40):
    try:
        conn.request('GET', '/api/v1/namespaces', headers={'Authorization': auth})
        r = conn.getresponse()
        r.read()
    except OSError:
        break
    n += r.status == 401
    if (r.getheader('Connection') or '').lower() == 'close':
        break
print(n)
PY
)
code=$(status "$ns_bad" nobody:wrong 2)
if [ "$code" = 000 ] && [ "$answered" = "$XWHISK_GUARD_STRIKES" ]; then
	ok "after $XWHISK_GUARD_STRIKES refusals in a second its connection is closed, the next gets no answer"
else
	not_ok "block" "$answered refusals before the node closed the connection; its next request got $code"
fi
code=$(status "$ns_good" "$guest")
if [ "$code" = 200 ]; then
	ok "another source is served meanwhile"
else
	not_ok "good client" "got $code"
fi
blocked=$(metric 'xwhisk_guard_drops_total{reason="blocked"}')
if [ "${blocked:-0}" -gt 0 ]; then
	ok "the drops are counted as blocked ($blocked)"
else
	not_ok "counter" "xwhisk_guard_drops_total{reason=\"blocked\"} is ${blocked:-missing}"
fi
sleep 4.5
code=$(status "$ns_bad" nobody:wrong)
if [ "$code" = 401 ]; then
	ok "the block expires: the source gets its 401 again"
else
	not_ok "expiry" "got $code"
fi
exit "$failed"
