#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every benchmark in this directory (make bench): burst.sh, control-plane.sh,
# entity-get.sh, invoke.sh (its native and Node.js rounds), sandbox.sh, skmsg.sh. BENCH_DURATION,
# BENCH_CONNECTIONS and BENCH_THREADS tune wrk; see docs/BENCHMARKS.md for the method.
set -uo pipefail
dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
status=0
for b in "$dir"/*.sh; do
	case "$(basename "$b")" in lib.sh | run.sh) continue ;; esac
	echo "== $(basename "$b" .sh)"
	"$b" || status=1
done
exit $status
