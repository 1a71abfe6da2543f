#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 10: which way can a streamed answer cross the node at 80 % of a direct TCP
# connection's throughput? A writer (the "sandbox") sends SIZE MB to a reader (the
# "client") through a "node" that only sets up a splice, in modes (MODES, default all):
#   direct  writer -> reader over TCP loopback, no node (the base of the ratios)
#   veth    writer in its own namespace -TCP over a veth-> node's socket, whose sk_skb
#           verdict redirects each skb to the egress of the reader's socket (xwhisk today)
#   lo      the same with the writer on the node's loopback
#   unix    the same with an AF_UNIX stream socket between writer and node
#   msg     the writer's socket in a sockmap with an sk_msg program that redirects each
#           write to the egress of the reader's socket: no veth, no node socket, no
#           psock worker (MSG_GUARD=1|2: fall back to TCP when the reader's socket is full)
# Interleaved REPEATS times; MB/s and the machine's CPU per MB, medians and ratios to direct.
# Env: BUF_MB (writer/node leg buffers, 16 -> 32 effective), CLIENT_BUF_MB (the node's
# socket to the reader, 0: autotuned), WRITER_NONBLOCK=1 (an epoll writer, as Node.js),
# WRITER_ET=1, READER_SLOW_US (a pause after each 128 KB read). The writer writes a counter
# pattern that the reader checks. docs/BENCHMARKS.md, "Streaming web actions".
#
#   scripts/bench/splice_paths.sh [SIZE_MB [REPEATS]]     # as root; default 1024 5
# Makes namespaces xwsplice-node and xwsplice-sb (10.231.99.1/.2 on a veth, addresses only
# inside them), removed on any exit.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$top/${BUILD:-build}
out=$build/bench/splice_paths
src=$top/scripts/bench/splice_paths
[ "$(id -u)" -eq 0 ] || { echo "splice_paths.sh: needs root" >&2; exit 1; }

make -C "$top" --no-print-directory "${build#$top/}/bpf/vmlinux.h" >/dev/null
mkdir -p "$out"
clang -g -O2 --target=bpf -Wall -Werror -D__TARGET_ARCH_x86 -I"$build/bpf" \
	-c "$src/splice_paths.bpf.c" -o "$out/splice_paths.bpf.o"
bpftool gen skeleton "$out/splice_paths.bpf.o" name splice_paths_bpf >"$out/splice_paths.skel.h"
make -C "$top" --no-print-directory "${build#$top/}/libxwhisk.a" >/dev/null
cc -O2 -g -std=gnu11 -Wall -Wextra -D_GNU_SOURCE -I"$out" -I"$top/userspace/lib" \
	-o "$out/splice_paths" "$src/splice_paths.c" "$build/libxwhisk.a" \
	$(pkg-config --cflags --libs libbpf) -lelf -lz

N=xwsplice-node S=xwsplice-sb
cleanup() { ip netns del $N 2>/dev/null || true; ip netns del $S 2>/dev/null || true; rm -f /run/xwsplice.sock; }
trap cleanup EXIT
cleanup
ip netns add $N
ip netns add $S
ip -n $N link add xws-node type veth peer name xws-sb netns $S
ip -n $N addr add 10.231.99.1/24 dev xws-node
ip -n $S addr add 10.231.99.2/24 dev xws-sb
for ns in $N $S; do ip -n $ns link set lo up; done
ip -n $N link set xws-node up
ip -n $S link set xws-sb up
# The writer and reader are its children and die with it (PR_SET_PDEATHSIG).
ip netns exec $N "$out/splice_paths" "${1:-1024}" "${2:-5}" &
pid=$!
trap 'kill $pid 2>/dev/null; exit 130' INT TERM HUP
wait $pid
