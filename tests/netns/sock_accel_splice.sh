#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# sock_accel across network namespaces: a client, a "node" and a "sandbox", each in a
# namespace of its own on one bridge (10.231.7.0/24). The node (build/tests/netns/splicer)
# accepts the client, connects to the sandbox's server and splices the two sockets with
# sock_accel, reading only what the verdict held for a side behind. The client sends 8 MB,
# the sandbox answers their SHA-256 and 8 MB of its own; checks: both arrive intact, and
# the program's counters account for every byte of both ways (the bytes each side
# received; the pass counter and the held bytes). Prints "ok - name" / "not ok - name: why". Needs root; everything it makes is
# private to its namespaces and removed on exit.
set -u

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$top/tests/netns/lan.bash"
splicer=$top/${BUILD:-build}/tests/netns/splicer
id=$$
prefix=xwsa
pin=/sys/fs/bpf/xwhisk-netns-accel-$id
net=10.231.7
port=18081
size=$((8 << 20))
out=$(mktemp -d)
pids=()

ok() { echo "ok - $1"; }
notok() { echo "not ok - $1: $2"; }

cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	lan_down "$prefix" "$id" cl node sb
	rm -rf "$pin" "$out"
}
trap cleanup EXIT

if [ "$(id -u)" != 0 ] || [ ! -x "$splicer" ]; then
	notok sock_accel_splice_setup "needs root and $splicer (make test-build)"
	exit 1
fi
if ! lan_up "$prefix" "$id" "$net" "" cl node sb; then
	notok sock_accel_splice_setup "cannot make the namespaces"
	exit 1
fi

# The sandbox: reads SIZE bytes, answers their SHA-256 (64 hex digits) then SIZE bytes of
# a pattern, and closes.
in_ns "$prefix-sb-$id" timeout 60 python3 -c '
import hashlib, socket, sys
size = int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 18081)); s.listen(4)
c, _ = s.accept()
h, n = hashlib.sha256(), 0
while n < size:
    b = c.recv(min(1 << 16, size - n))
    if not b:
        break
    h.update(b); n += len(b)
c.sendall(h.hexdigest().encode())
pattern = bytes(range(256)) * 256
for _ in range(size // len(pattern)):
    c.sendall(pattern)
c.close()
' "$net.3" "$size" &
pids+=($!)

in_ns "$prefix-node-$id" timeout 60 "$splicer" "$pin" "$net.2" "$port" "$net.3" "$port" \
	>"$out/splicer" 2>"$out/splicer.err" &
pids+=($!)
for _ in $(seq 100); do
	grep -q listening "$out/splicer" 2>/dev/null && break
	sleep 0.05
done

# The client: sends SIZE random bytes, reads the answer to its end, checks both.
client=$(in_ns "$prefix-cl-$id" timeout 60 python3 -c '
import hashlib, os, socket, sys
size = int(sys.argv[2])
data = os.urandom(size)
c = socket.create_connection((sys.argv[1], int(sys.argv[3])), timeout=30)
c.sendall(data)
got = bytearray()
while True:
    b = c.recv(1 << 16)
    if not b:
        break
    got += b
c.close()
pattern = bytes(range(256)) * 256
want = hashlib.sha256(data).hexdigest().encode() + pattern * (size // len(pattern))
print("intact" if bytes(got) == want else "corrupt %d of %d bytes" % (len(got), len(want)))
' "$net.2" "$size" "$port" 2>&1)
wait "${pids[1]}"
splice=$(cat "$out/splicer")

if [ "$client" = intact ]; then
	ok sock_accel_splice_bytes_intact
else
	notok sock_accel_splice_bytes_intact "$client"
fi
read -r up down held pass < <(sed -n 's/^up \([0-9]*\) down \([0-9]*\) held \([0-9]*\) pass \([0-9]*\)$/\1 \2 \3 \4/p' <<<"$splice")
if [ "${up:-0}" = "$size" ] && [ "${down:-0}" = $((size + 64)) ] &&
	[ $((${pass:-0} + ${held:-0})) -ge $((2 * size + 64)) ]; then
	ok sock_accel_splice_counted
else
	notok sock_accel_splice_counted "want up $size down $((size + 64)), got: $splice $(cat "$out/splicer.err")"
fi
