#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# sk_msg on the invoke path (issue 10): round trips per second and CPU per round trip of
# /run-sized requests (500 B) and answers (200 B) between a client in a "node" network
# namespace and a server in a "sandbox" one behind a bridge and a veth, by TCP and with
# bpf/sock_msg_redirect.bpf.c redirecting between the two sockets. 1 then 16 connections,
# BENCH_SKMSG_ROUNDS (default 5) alternations of BENCH_SKMSG_SECS (default 2) seconds per
# mode; prints each run and a Markdown table of medians (docs/BENCHMARKS.md keeps a copy).
# Needs root (namespaces, BPF); leaves nothing behind (the namespaces die with the tool).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
build=${BUILD:-build}

if [ "$(id -u)" -ne 0 ]; then
	echo "skmsg.sh: needs root" >&2
	exit 1
fi
make --no-print-directory BUILD="$build" -j2 "$build/bench/skmsg_bench" >/dev/null
exec "$build/bench/skmsg_bench" -s "${BENCH_SKMSG_SECS:-2}" -r "${BENCH_SKMSG_ROUNDS:-5}" \
	-q "${BENCH_SKMSG_REQ:-500}" -a "${BENCH_SKMSG_ANS:-200}"
