#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The activation store, SQLite and PostgreSQL side by side in one run (store_bench.c):
# records ingested per second (batches of 1000, as nodes ship them) and the CPU time spent
# storing each (inside activation_put; SQLite only: PostgreSQL's is its server's), p50/p99
# of filtered activation lists over all of them, and the controller's retention dropping
# the older half (a day of a two-day spread) with the lists' p99 meanwhile.
#   scripts/bench/store.sh [RECORDS [QUERIES [INGESTED]]]
#   defaults: 1000000 records, 2000 lists, 100000 of the records ingested through the store
#   (the ingest rate), the others copied from them in bulk by the database (minutes for a
#   million where ingesting them all would take up to an hour on a busy machine)
# PostgreSQL is a throwaway server of tests/pg/pgtmp.sh with its default settings (fsync
# on), SQLite a file in a temporary directory (WAL, synchronous=FULL). Prints one JSON line
# per store and a Markdown table.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"
build=${BUILD:-build}
records=${1:-1000000}
queries=${2:-2000}
ingested=${3:-100000}

make --no-print-directory BUILD="$build" -j2 "$build/bench/store_bench" >/dev/null
tmp=$(mktemp -d /tmp/xwhisk-bench-store-XXXXXX)
pg=
cleanup() {
	[ -z "$pg" ] || tests/pg/pgtmp.sh stop "$pg"
	rm -rf "$tmp"
}
trap cleanup EXIT
pg=$(tests/pg/pgtmp.sh start)

echo "## Activation store ($(date -u +%Y-%m-%d), $(nproc) CPUs, $records records)"
echo
echo "Command: \`scripts/bench/store.sh $records $queries $ingested\`; load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
results=$(
	echo "sqlite $(XWHISK_LOG_LEVEL=warn "$build/bench/store_bench" "sqlite:$tmp/bench.db" "$records" "$queries" "$ingested")"
	echo "postgresql $(XWHISK_LOG_LEVEL=warn "$build/bench/store_bench" "$pg" "$records" "$queries" "$ingested")"
)
echo "$results"
echo
python3 - "$results" <<'PY'
import json, sys
rows = [(l.split(' ', 1)[0], json.loads(l.split(' ', 1)[1])) for l in sys.argv[1].splitlines()]
print("| store | ingest rec/s (of records) | CPU per record stored | bulk copy | list p50 | list p99 | retention (records, s) | list p99 during retention |")
print("|---|---|---|---|---|---|---|---|")
for name, r in rows:
    cpu = f"{r['put_cpu_us_per_record']:.1f} µs" if name == "sqlite" else "(its server's)"
    print(f"| {name} | {r['ingest_per_s']:.0f} ({r['ingested']}) | {cpu} | {r['records'] - r['ingested']} in {r['bulk_s']:.1f} s | "
          f"{r['list_p50_us']/1000:.2f} ms | {r['list_p99_us']/1000:.2f} ms | "
          f"{r['retention_deleted']}, {r['retention_s']:.1f} s | {r['list_during_retention_p99_us']/1000:.2f} ms |")
PY
