#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The soak: N minutes (default 10) of mixed load against a system this script starts
# itself (controller and node on free ports, their own data directory, bridge, subnet,
# cgroup parent and pinned maps), with a kill -9 of the node, the controller and a sandbox
# proxy in turn, each restarted. It ends with counts that must be 0: accepted activations
# without a record, and sandboxes, veths, cgroups and maps left after the stop; and the
# descriptors node and controller hold before and after. Exit status 0 when all hold.
#   scripts/soak.sh [minutes]
# Environment: SOAK_WORKERS (4 concurrent clients), SOAK_KILL_EVERY_S (60), SOAK_NICE
# (10; the load and the system run at this priority: a correctness test, not a timing
# one), XWHISK_BIN (the build directory, default build/). Needs root, node (Node.js) and
# a build (make).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export SOAK_MINUTES=${1:-${SOAK_MINUTES:-10}}
bin=${XWHISK_BIN:-$top/build}
for p in xwhisk-controller xwhisk-node xwhisk-proxy; do
	[ -x "$bin/$p" ] || { echo "soak: $bin/$p is missing; run 'make' first" >&2; exit 1; }
done
command -v node >/dev/null || { echo "soak: node (Node.js) is not on the PATH" >&2; exit 1; }
exec nice -n "${SOAK_NICE:-10}" node "$top/scripts/soak.js"
