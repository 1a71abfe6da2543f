#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs the test suites and ends with one line: "N passed, N failed".
#   tests/run.sh [suite...]     suites: unit fuzz bpf netns e2e k8s (default: all)
#   BUILD=build-san tests/run.sh unit bpf fuzz     what `make test SANITIZE=1` runs
#   XWHISK_TEST_STORE=postgresql tests/run.sh e2e    the e2e suite on PostgreSQL
# Every test program prints "ok - NAME" or "not ok - NAME: why" per case; a program
# that exits non-zero without saying which case failed counts as one failure.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
build=${BUILD:-build}
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit fuzz bpf netns e2e k8s)

passed=0
failed=0
failures=()

# run_one LABEL TIMEOUT_S COMMAND...
run_one() {
	local label=$1 limit=$2 out status ok bad
	shift 2
	out=$(timeout --kill-after=10 "$limit" "$@" 2>&1)
	status=$?
	ok=$(grep -cE '^ok( |$)' <<<"$out")
	bad=$(grep -cE '^not ok( |$)' <<<"$out")
	grep -E '^(ok|not ok)( |$)' <<<"$out" | sed "s|^|[$label] |"
	if [ "$bad" -gt 0 ]; then
		mapfile -t lines < <(grep -E '^not ok' <<<"$out" | sed "s|^|[$label] |")
		failures+=("${lines[@]}")
	fi
	if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
		if [ "$status" -eq 124 ]; then
			failures+=("[$label] timed out after ${limit}s")
		else
			failures+=("[$label] exited with status $status")
		fi
		echo "not ok - [$label] exited with status $status"
	fi
	if [ "$bad" -gt 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
		echo "---- output of $label ----"
		tail -n 60 <<<"$out"
		echo "----"
	fi
	passed=$((passed + ok))
	failed=$((failed + bad))
}

# The store's unit tests once more on PostgreSQL, on a server of their own
# (tests/pg/pgtmp.sh). XWHISK_TEST_NO_PG=1 skips them where no server can run.
unit_store_pg() {
	local uri
	[ -x "$build/tests/test_store" ] && [ "${XWHISK_TEST_NO_PG:-0}" != 1 ] || return 0
	if ! uri=$(tests/pg/pgtmp.sh start); then
		failures+=("[test_store/postgresql] cannot start a PostgreSQL server (tests/pg/pgtmp.sh)")
		failed=$((failed + 1))
		return
	fi
	run_one test_store/postgresql 300 env XWHISK_TEST_STORE="$uri" \
		XWHISK_TEST_PGTMP="$top/tests/pg/pgtmp.sh" "$build/tests/test_store"
	tests/pg/pgtmp.sh stop "$uri"
}

for suite in "${suites[@]}"; do
	echo "== $suite"
	ran_before=$((passed + failed))
	case "$suite" in
	unit)
		run_one lint 60 tests/lint.sh
		for t in "$build"/tests/test_*; do
			[ -x "$t" ] || continue
			case "$(basename "$t")" in test_bpf_*) continue ;; esac
			# XWHISK_TEST_STORE is the e2e suite's; test_store's SQLite pass runs here
			run_one "$(basename "$t")" 300 env -u XWHISK_TEST_STORE "$t"
		done
		unit_store_pg
		;;
	fuzz)
		# Each fuzz target replays its corpus without libFuzzer (tests/fuzz/replay.c):
		# the seeds and every input that once crashed it.
		for t in "$build"/tests/fuzz/fuzz_*; do
			[ -x "$t" ] || continue
			name=$(basename "$t")
			run_one "$name" 300 "$t" "tests/fuzz/corpus/${name#fuzz_}"
		done
		;;
	bpf)
		for t in "$build"/tests/test_bpf_*; do
			[ -x "$t" ] || continue
			run_one "$(basename "$t")" 300 "$t"
		done
		;;
	netns)
		# Every executable tests/netns/*.sh: network namespaces and veth pairs, root only;
		# each script cleans up after itself.
		for t in tests/netns/*.sh; do
			[ -x "$t" ] || continue
			BUILD="$build" run_one "$(basename "$t")" 120 "$t"
		done
		;;
	e2e)
		# Installed again whenever package-lock.json lists something newer than what is there.
		if [ ! -f tests/e2e/node_modules/.package-lock.json ] ||
			[ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; then
			(cd tests/e2e && npm ci --no-audit --no-fund >/dev/null 2>&1) ||
				(cd tests/e2e && npm install --no-audit --no-fund >/dev/null 2>&1)
		fi
		# XWHISK_TEST_STORE=postgresql: every system of the run on a PostgreSQL server
		# started for it (a postgresql://... URI: on that server).
		e2e_pg=
		if [ "${XWHISK_TEST_STORE:-}" = postgresql ]; then
			if ! e2e_pg=$(tests/pg/pgtmp.sh start); then
				failures+=("[e2e] cannot start a PostgreSQL server (tests/pg/pgtmp.sh)")
				failed=$((failed + 1))
				continue
			fi
			export XWHISK_TEST_STORE=$e2e_pg
		fi
		for t in tests/e2e/*.test.js; do
			[ -f "$t" ] || continue
			run_one "$(basename "$t")" 900 node "$t"
		done
		[ -z "$e2e_pg" ] || tests/pg/pgtmp.sh stop "$e2e_pg"
		;;
	k8s)
		# The Kubernetes backend against a fake API server (tests/k8s/fake_apiserver.py)
		# and the real kubectl; no cluster needed.
		for t in tests/k8s/test_*.py tests/k8s/*.sh; do
			[ -x "$t" ] || continue
			BUILD="$build" run_one "$(basename "$t")" 120 "$t"
		done
		# through a real node agent (as the e2e suite: root, BPF)
		for t in tests/k8s/*.test.js; do
			[ -f "$t" ] || continue
			run_one "$(basename "$t")" 300 node "$t"
		done
		;;
	*)
		echo "unknown suite '$suite'" >&2
		failed=$((failed + 1))
		;;
	esac
	# A suite that found nothing to run (an unbuilt tree) is a failure, not a pass.
	if [ $((passed + failed)) -eq "$ran_before" ]; then
		failures+=("[$suite] no tests ran")
		failed=$((failed + 1))
	fi
done

if [ ${#failures[@]} -gt 0 ]; then
	echo
	echo "Failures:"
	printf '  %s\n' "${failures[@]}"
fi
echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
