#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every benchmark script in this directory, one after another (make bench): each
# *.sh but lib.sh and this one. BENCH_DURATION, BENCH_CONNECTIONS and BENCH_THREADS tune
# wrk; see docs/BENCHMARKS.md for each script's method.
set -uo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
status=0
for b in "$dir"/*.sh; do
	case "$(basename "$b")" in lib.sh | run.sh) continue ;; esac
	echo "== $(basename "$b" .sh)"
	"$b" || status=1
done
exit $status
