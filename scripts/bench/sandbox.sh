#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Sandbox benchmark: fresh-process baselines, cold starts from the stem-cell pool and
# without it, sustained refills, memory per idle sandbox. Prints Markdown tables
# (docs/BENCHMARKS.md keeps a copy). Needs root (namespaces, cgroups, a bridge).
#   scripts/bench/sandbox.sh [all|fresh|pool|nopool|refill|memory] [SCALE]
# BUILD selects the build directory (default: build). SCALE multiplies the run counts.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
build=${BUILD:-build}
what=${1:-all}
scale=${2:-1}

if [ "$(id -u)" -ne 0 ]; then
	echo "sandbox.sh: sandboxes need root" >&2
	exit 1
fi
# The driver reuses the tests' harness (its own bridge, subnet, cgroup and state).
make --no-print-directory BUILD="$build" -j2 "$build/xwhisk-proxy" "$build/bench/sandbox_bench" \
	runtimes >/dev/null
# The driver finds xwhisk-proxy and the runtimes one level above itself, in $build.

echo "## Sandboxes ($(date -u +%Y-%m-%d), $(nproc) CPUs, kernel $(uname -r))"
echo
echo "Command: \`BUILD=$build scripts/bench/sandbox.sh $what $scale\`;" \
	"load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
"$build/bench/sandbox_bench" "$what" "$scale"
