#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs the libFuzzer targets `make fuzz` built, one at a time at the lowest priority, each
# for FUZZ_SECONDS, and ends with one line per target: executions and the outcome.
#   tests/fuzz/run.sh [name...]     names as in tests/fuzz/fuzz_<name>.c (default: all)
# New inputs go to $FUZZ_BUILD/corpus/<name> (the committed seeds stay as they are);
# a crash leaves its input in $FUZZ_BUILD/crashes/: copy it into tests/fuzz/corpus/<name>/
# with the fix, so that the replay in `make test` keeps it fixed.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do
		n=$(basename "$f" .c)
		names+=("${n#fuzz_}")
	done
fi

summary=()
failed=0
mkdir -p "$build/crashes"
for n in "${names[@]}"; do
	bin=$build/fuzz/fuzz_$n
	if [ ! -x "$bin" ]; then
		summary+=("not ok - fuzz_$n: not built ($bin)")
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$build/corpus/$n"
	log=$build/fuzz_$n.log
	# -close_fd_mask=1: the targets' stdout (the proxy's log sentinels) is noise here.
	nice -n 19 "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-close_fd_mask=1 -print_final_stats=1 -artifact_prefix="$build/crashes/$n-" \
		"$build/corpus/$n" "tests/fuzz/corpus/$n" >"$log" 2>&1
	status=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$status" -eq 0 ]; then
		summary+=("ok - fuzz_$n: ${execs:-?} executions in ${seconds}s, no crash")
	else
		summary+=("not ok - fuzz_$n: exit $status after ${execs:-?} executions (see $log)")
		failed=$((failed + 1))
		tail -n 40 "$log"
	fi
done
printf '%s\n' "${summary[@]}"
[ "$failed" -eq 0 ]
