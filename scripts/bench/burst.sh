#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A burst on a concurrency-1 action: BENCH_BURST_CONNECTIONS (16) wrk connections of
# blocking invokes (POST /api/v1/namespaces/_/actions/NAME?blocking=true&result=true) for
# BENCH_BURST_DURATION (5s), starting once the action's first sandbox is warm, on a
# Node.js action with limits.concurrency 1 that waits BENCH_BURST_SLEEP_MS (2 ms; 0: a
# no-op) before it answers {}. Each of the 16 clients needs a sandbox of its own, so the
# burst finds one and makes the node decide, for every request that finds them all busy,
# whether to wait for one or start another.
#
# Reported: throughput, p50, p99, p99/p50, and what the burst cost in cold starts: the
# activations that waited for a new sandbox (xwhisk_cold_starts_total on the node's
# /metrics, before and after) and the sandboxes the action has after it (its slots in the
# slots map; it had 1). Then the same load again, every sandbox now warm: the p99 of the
# same action without the cold starts. Then the baseline: nginx straight to those warm
# sandboxes (least_conn, max_conns=1), no node: the p99/p50 the machine itself gives 16
# clients of 16 sandboxes. Each repeat (BENCH_REPEAT, 3) uses a new action, so each starts
# from one warm sandbox; medians at the end.
#
# The node runs with the manifest's stem cells (as `make run`); BENCH_PREWARM sets
# XWHISK_PREWARM instead ("" for none: every cold start makes a whole sandbox).
# Needs root (the node loads BPF maps and makes sandboxes).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "burst.sh: needs root" >&2; exit 1; }
[ -n "${BENCH_PREWARM+set}" ] && export XWHISK_PREWARM=$BENCH_PREWARM
conns=${BENCH_BURST_CONNECTIONS:-16}
duration=${BENCH_BURST_DURATION:-5s}
sleep_ms=${BENCH_BURST_SLEEP_MS:-2}
threads=$BENCH_THREADS
# the slowest requests of a burst take seconds: measure them rather than count them as errors
export BENCH_WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-30s}
[ "$conns" -lt "$threads" ] && threads=$conns

start_xwhisk
key=$("$bin/xwhisk-admin" --data-dir "$bench_tmp/data" user create bench)
"$bin/xwhisk-admin" --data-dir "$bench_tmp/data" limits set bench --invocationsPerMinute 100000000 \
	--concurrentInvocations 100000 >/dev/null
api=http://127.0.0.1:$NODE_PORT/api/v1/namespaces/_
GUEST_AUTH=$key
node_pid=$NODE_PID

js_kind=${BENCH_NODEJS_KIND:-$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["runtimes"]["nodejs"]
print(next((k for k in r if k.get("default")), r[0])["kind"])' "$bin/runtimes/runtimes.json")}
if [ "$sleep_ms" = 0 ]; then
	js_main='function main(params) { return {} }'
else
	js_main="function main(params) { return new Promise((resolve) => setTimeout(() => resolve({}), $sleep_ms)) }"
fi
code=$(printf '%s' "$js_main" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')

# sandboxes ACTION_ID: how many sandboxes (starting, warm or draining) the action has.
sandboxes() {
	slots_dump | awk -v id="$1" '$3 == id && $2 >= 1 && $2 <= 3 { n++ } END { print n + 0 }'
}

echo "burst: $conns connections for $duration on a $js_kind action with concurrency 1" \
	"(${sleep_ms} ms per activation), stem cells: ${XWHISK_PREWARM-as the manifest says}"
seen=" "
lines=
for i in $(seq 1 "${BENCH_REPEAT:-3}"); do
	name=burst$i
	curl -sf -u "$key" -X PUT -H 'Content-Type: application/json' \
		-d "{\"exec\":{\"kind\":\"$js_kind\",\"code\":$code},\"limits\":{\"concurrency\":1,\"memory\":${BENCH_BURST_MEMORY:-128}}}" \
		"$api/actions/$name?overwrite=true" >/dev/null
	first=$(curl -sf -u "$key" -X POST -H 'Content-Type: application/json' -d '{}' \
		"$api/actions/$name?blocking=true&result=true")
	[ "$first" = '{}' ] || { echo "burst.sh: the first invoke answered '$first'" >&2; exit 1; }
	# The action's id: that of the warm slot no earlier action has.
	id=$(slots_dump | awk -v seen="$seen" '$2 == 2 && index(seen, " " $3 " ") == 0 { print $3; exit }')
	[ -n "$id" ] || { echo "burst.sh: no warm sandbox of $name in the slots map" >&2; exit 1; }
	seen="$seen$id "
	wait_records_shipped
	for phase in burst warm; do
		sb_before=$(sandboxes "$id")
		cold_before=$(metric xwhisk_cold_starts_total)
		line=$(BENCH_CONNECTIONS=$conns BENCH_THREADS=$threads BENCH_DURATION=$duration \
			measure "$phase" "$api/actions/$name?blocking=true&result=true" '{}' "$node_pid")
		cold_after=$(metric xwhisk_cold_starts_total)
		# the sandboxes asked for during the burst, once they are up
		for _ in $(seq 1 100); do
			[ "$(metric xwhisk_starting_sandboxes)" = 0 ] && break
			sleep 0.1
		done
		sb_after=$(sandboxes "$id")
		line=$(python3 -c '
import json, sys
name, rest = sys.argv[1].split(" ", 1)
r = json.loads(rest)
r.update(waited=int(sys.argv[2]) - int(sys.argv[3]), sandboxes_before=int(sys.argv[4]),
         sandboxes_after=int(sys.argv[5]))
print(name, json.dumps(r))' "$line" "$cold_after" "$cold_before" "$sb_before" "$sb_after")
		echo "$line"
		lines+="$line"$'\n'
		wait_records_shipped
	done
	# The baseline: the same load through nginx straight to the same warm sandboxes
	# (least_conn, one request in flight per sandbox, as their concurrency 1 allows), no
	# node in between: the p99/p50 this machine gives 16 clients of 16 sandboxes.
	upstream="least_conn; zone sandboxes 64k;"
	while read -r ip port; do
		upstream+=" server $ip:$port max_conns=1;"
	done < <(slots_dump | awk -v id="$id" '$2 == 2 && $3 == id { print $5, $6 }')
	NGINX_UPSTREAM=$upstream start_nginx 0 127.0.0.1 "burst$i"
	n=$(sandboxes "$id")
	# at most one client per sandbox: nginx answers 502 when every server is at max_conns
	line=$(BENCH_CONNECTIONS=$((n < conns ? n : conns)) BENCH_THREADS=$threads BENCH_DURATION=$duration \
		measure nginx "http://127.0.0.1:$NGINX_PORT/run" '{"value":{}}' $(nginx_pids "burst$i"))
	kill "$(cat "$bench_tmp/nginx-burst$i.pid")" 2>/dev/null || true
	line=$(python3 -c '
import json, sys
name, rest = sys.argv[1].split(" ", 1)
r = json.loads(rest)
r.update(waited=0, sandboxes_before=int(sys.argv[2]), sandboxes_after=int(sys.argv[2]))
print(name, json.dumps(r))' "$line" "$n")
	echo "$line"
	lines+="$line"$'\n'
done

python3 - "$conns" "$lines" <<'PY'
import json, statistics, sys
conns = int(sys.argv[1])
runs = {}
for l in sys.argv[2].splitlines():
    if l:
        name, rest = l.split(' ', 1)
        runs.setdefault(name, []).append(json.loads(rest))
for phase, rs in runs.items():
    med = lambda k: statistics.median(r[k] for r in rs)
    spread = [r['p99_us'] / max(r['p50_us'], 1) for r in rs]
    started = [r['sandboxes_after'] - r['sandboxes_before'] for r in rs]
    print(f"[{phase}] {len(rs)} runs, medians: {med('rps'):.0f} req/s, p50 {med('p50_us'):.0f} us, "
          f"p99 {med('p99_us'):.0f} us, p99/p50 {statistics.median(spread):.1f}x "
          f"(per run {min(spread):.1f}-{max(spread):.1f}x); activations that waited for a sandbox "
          f"{med('waited'):.0f} (per run {min(r['waited'] for r in rs)}-{max(r['waited'] for r in rs)}); "
          f"sandboxes started {statistics.median(started):.0f} (per run {min(started)}-{max(started)}; "
          f"{conns} connections need at most {conns - 1} more than the first); "
          f"node CPU per request {med('cpu_us_per_req'):.1f} us, switches {med('switches_per_req'):.2f}; "
          f"errors {sum(r['errors'] for r in rs)}")
PY
