#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# sandbox_tc on real veths: a "node" network namespace with a bridge (169.254.200.1/24) and
# two "sandbox" namespaces joined to it by veth pairs, sandbox_tc attached (tcx) on the
# host-side veths. Bridge ports are NOT isolated here: what keeps the sandboxes apart is the
# program. Checks: a sandbox reaches the ingress port on the bridge address (positive
# control); not a listener on 0.0.0.0 of the node, nor the other sandbox; the node reaches
# the sandbox's server (its replies pass); the drops are counted by reason.
# Prints "ok - name" / "not ok - name: why". Needs root; everything it makes is private to
# its namespaces and removed on exit.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$top/tests/netns/lan.bash"
tool=$top/${BUILD:-build}/tests/test_bpf_sandbox_tc
id=$$
node=xwsn-n-$id
sb1=xwsn-a-$id
sb2=xwsn-b-$id
pin=/sys/fs/bpf/xwhisk-netns-sbnet-$id
ingress=13233
other=18000
failed=0
pids=()

ok() { echo "ok - $1"; }
notok() { echo "not ok - $1: $2"; failed=1; }

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	for ns in "$sb1" "$sb2" "$node"; do ip netns del "$ns" 2>/dev/null; done
	rm -rf "$pin"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || [ ! -x "$tool" ]; then
	notok sandbox_net_setup "needs root and $tool (make test-build)"
	exit 1
fi

# A TCP listener that answers one line to every connection, in a namespace, until killed.
listen() {
	local ns=$1 addr=$2 port=$3
	in_ns "$ns" timeout 60 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
while True:
    c, _ = s.accept(); c.sendall(b"hello\n"); c.close()
' "$addr" "$port" &
	pids+=($!)
}

# reach NS ADDR PORT: prints what a connect gets within 2 s.
reach() {
	in_ns "$1" timeout 5 python3 -c '
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except OSError as e:
    print(type(e).__name__)
' "$2" "$3"
}

setup() {
	ip netns add "$node" && ip netns add "$sb1" && ip netns add "$sb2" || return 1
	ip -n "$node" link set lo up
	ip -n "$node" link add br0 type bridge || return 1
	ip -n "$node" addr add 169.254.200.1/24 dev br0
	ip -n "$node" link set br0 up
	local i=1
	for ns in "$sb1" "$sb2"; do
		ip -n "$node" link add "v$i" type veth peer name eth0 netns "$ns" || return 1
		ip -n "$node" link set "v$i" master br0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" addr add "169.254.200.1$i/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add default via 169.254.200.1
		in_ns "$node" "$tool" attach "$pin" "v$i" "169.254.200.1$i" 169.254.200.1 \
			169.254.200.0/24 "$ingress" || return 1
		i=$((i + 1))
	done
}

if ! setup; then
	notok sandbox_net_setup "could not build the namespaces or attach sandbox_tc"
	exit 1
fi
ok sandbox_net_setup

listen "$node" 169.254.200.1 "$ingress"
listen "$node" 0.0.0.0 "$other"
listen "$sb2" 0.0.0.0 8080
listen "$sb1" 0.0.0.0 8080
# The listeners up, and the new links settled (a first ARP may take a moment).
for _ in $(seq 50); do
	n=$(in_ns "$node" ss -Hltn | wc -l)
	[ "$n" -ge 2 ] && break
	sleep 0.1
done

# The positive control gets a few tries; the refusals below get one.
for _ in 1 2 3 4 5; do
	r=$(reach "$sb1" 169.254.200.1 "$ingress")
	[ "$r" = connected ] && break
	echo "  ingress try: ${r:-no answer}" >&2
	sleep 1
done
[ "$r" = connected ] && ok sandbox_reaches_ingress || notok sandbox_reaches_ingress "${r:-no answer}"

r=$(reach "$sb1" 169.254.200.1 "$other")
[ "$r" != connected ] && ok sandbox_not_other_host_port || notok sandbox_not_other_host_port "$r"

r=$(reach "$sb1" 169.254.200.12 8080)
[ "$r" != connected ] && ok sandbox_not_other_sandbox || notok sandbox_not_other_sandbox "$r"

r=$(reach "$node" 169.254.200.11 8080)
[ "$r" = connected ] && ok node_reaches_sandbox_server || notok node_reaches_sandbox_server "$r"

drops=$(in_ns "$node" "$tool" drops "$pin")
host=$(awk '$1 == "host" { print $2 }' <<<"$drops")
peer=$(awk '$1 == "peer" { print $2 }' <<<"$drops")
pass=$(awk '$1 == "pass" { print $2 }' <<<"$drops")
if [ "${host:-0}" -gt 0 ] && [ "${peer:-0}" -gt 0 ] && [ "${pass:-0}" -gt 0 ]; then
	ok sandbox_net_drops_counted
else
	notok sandbox_net_drops_counted "pass=${pass:-?} host=${host:-?} peer=${peer:-?}"
fi

exit $failed
