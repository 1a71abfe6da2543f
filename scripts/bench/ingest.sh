#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The controller's per-record ingest (issue 8): a controller alone on a temporary data
# directory, RECORDS activation records POSTed to /internal/v1/activations in batches of
# the shipper's size (500) over one keep-alive connection, as a node ships them. Prints the
# controller's CPU time (utime + stime from /proc) per record, which hardly moves with the
# machine's load, and the wall time.
#
#   scripts/bench/ingest.sh [RECORDS]     # default 50000
#   BENCH_INGEST_IDS=time|random|sequential  # activation ids as nodes make them (the time
#                                         # first), as they did before (random), or 1, 2, 3
#   BENCH_INGEST_FORMAT=json|ndjson       # the body: the old {"activations":[...]} or the
#                                         # spool's lines as they are (default ndjson)
#   BENCH_INGEST_STORE=sqlite|pg          # pg: a throwaway server (tests/pg/pgtmp.sh)
#   BENCH_PERF=FILE                       # perf record -g the controller into FILE
set -euo pipefail
. "$(dirname "$0")/lib.sh"

records=${1:-50000}
format=${BENCH_INGEST_FORMAT:-ndjson}
store=${BENCH_INGEST_STORE:-sqlite}
pg_uri=
token=ingest-bench-token

cleanup_pg() {
	[ -n "$pg_uri" ] && "$top/tests/pg/pgtmp.sh" stop "$pg_uri" >/dev/null 2>&1 || true
}
trap 'cleanup_pg; bench_cleanup' EXIT

mkdir -p "$bench_tmp/data"
unset XWHISK_STORE
if [ "$store" = pg ]; then
	pg_uri=$("$top/tests/pg/pgtmp.sh" start)
	export XWHISK_STORE=$pg_uri
fi
CONTROLLER_PORT=$(free_port)
XWHISK_DATA_DIR=$bench_tmp/data XWHISK_CONTROLLER_LISTEN=127.0.0.1:$CONTROLLER_PORT \
	XWHISK_NODE_TOKEN=$token XWHISK_LOG_LEVEL=warn \
	"$bin/xwhisk-controller" >"$bench_tmp/controller.log" 2>&1 &
bench_pids+=($!)
controller=$!
wait_port "$CONTROLLER_PORT" || { cat "$bench_tmp/controller.log" >&2; exit 1; }

# The bodies are made before the clock starts: only the controller's work is measured.
python3 - "$records" "$format" "$bench_tmp/bodies" <<'PY'
import json, os, sys
n, fmt, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ids = os.environ.get("BENCH_INGEST_IDS", "time")
def activation_id(i):
    if ids == "random":      # what nodes made before ids began with the time
        return os.urandom(16).hex()
    if ids == "sequential":
        return "%032x" % (i + 1)
    return "%012x" % (t0 + i * 7) + os.urandom(10).hex()   # as nodes make them now
t0 = 1700000000000
def record(i):
    ns, name = "bench%d" % (i % 5), "action%d" % (i // 5 % 20)
    start = t0 + i * 7
    return {"namespace": ns, "name": name, "subject": ns, "activationId": activation_id(i),
            "start": start, "end": start + 12, "duration": 12,
            "response": {"statusCode": 0, "result": {"greeting": "hello stranger", "n": i}},
            "logs": ["2024-01-01T00:00:00.000000000Z stdout: hello",
                     "2024-01-01T00:00:00.000100000Z stdout: done"],
            "annotations": [{"key": "path", "value": ns + "/" + name},
                            {"key": "waitTime", "value": 3},
                            {"key": "kind", "value": "nodejs:20"},
                            {"key": "timeout", "value": False},
                            {"key": "limits", "value": {"timeout": 60000, "memory": 256,
                                                        "logs": 10, "concurrency": 1}}],
            "version": "0.0.1", "publish": False}
with open(out, "w") as f:
    for lo in range(0, n, 500):
        lines = [json.dumps(record(i), separators=(",", ":")) for i in range(lo, min(n, lo + 500))]
        body = "\n".join(lines) + "\n" if fmt == "ndjson" else '{"activations":[' + ",".join(lines) + "]}"
        f.write(json.dumps(body) + "\n")
PY

perf_pid=
if [ -n "${BENCH_PERF:-}" ]; then
	perf record ${BENCH_PERF_OPTS:--g} -o "$BENCH_PERF" -p "$controller" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 1
fi
# PostgreSQL's work is the server's: its postmaster and backends, counted apart.
server=()
if [ -n "$pg_uri" ]; then
	port=${pg_uri##*:}
	port=${port%%/*}
	postmaster=$(head -n 1 "${PGTMP_ROOT:-/tmp}/xwhisk-pg.$port/data/postmaster.pid")
	server=("$postmaster" $(pgrep -P "$postmaster"))
fi
server_before=$(cpu_ticks "${server[@]}")
before=$(cpu_ticks "$controller")
t0=$(date +%s.%N)
python3 - "$CONTROLLER_PORT" "$token" "$format" "$bench_tmp/bodies" <<'PY'
import http.client, json, sys
port, token, fmt, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctype = "application/x-ndjson" if fmt == "ndjson" else "application/json"
c = http.client.HTTPConnection("127.0.0.1", port)
stored = 0
for line in open(path):
    body = json.loads(line).encode()
    c.request("POST", "/internal/v1/activations", body,
              {"Authorization": "Bearer " + token, "Content-Type": ctype})
    r = c.getresponse()
    answer = json.loads(r.read())
    if r.status != 200 or answer["rejected"]:
        sys.exit("ingest: %d %s" % (r.status, answer))
    stored += answer["stored"]
print("stored", stored)
PY
t1=$(date +%s.%N)
after=$(cpu_ticks "$controller")
server_after=$(cpu_ticks "${server[@]}")
[ -n "$perf_pid" ] && kill -INT "$perf_pid" && wait "$perf_pid" || true
hz=$(getconf CLK_TCK)
awk -v n="$records" -v t=$((after - before)) -v hz="$hz" -v w="$(echo "$t1 - $t0" | bc)" \
	-v f="$format" -v s="$store" -v st=$((server_after - server_before)) 'BEGIN {
	printf "ingest store=%s format=%s records=%d controller_cpu_us_per_record=%.1f", s, f, n,
		t * 1e6 / hz / n
	if (s == "pg")
		printf " server_cpu_us_per_record=%.1f", st * 1e6 / hz / n
	printf " wall_s=%.2f\n", w }'
