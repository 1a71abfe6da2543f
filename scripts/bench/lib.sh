#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared by the benchmarks: free ports, starting xwhisk and nginx, running wrk.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${XWHISK_BIN:-$top/build}
GUEST_AUTH=23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP
BENCH_DURATION=${BENCH_DURATION:-10s}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
BENCH_THREADS=${BENCH_THREADS:-2}
bench_pids=()
bench_tmp=$(mktemp -d /tmp/xwhisk-bench-XXXXXX)

bench_cleanup() {
	for p in "${bench_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${bench_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# The node leaves its sandboxes running for the next start to adopt: remove them.
	[ -n "${xwhisk_started:-}" ] &&
		XWHISK_DATA_DIR=$bench_tmp/data "$bin/xwhisk-node" --destroy >/dev/null 2>&1
	local f pid i
	for f in "$bench_tmp"/nginx*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || continue
		# not our child (it daemonised): wait until it is gone (or a zombie for init to reap)
		for i in $(seq 1 50); do
			[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && break
			sleep 0.1
		done
	done
	rm -rf "$bench_tmp"
}
trap bench_cleanup EXIT
# bash runs no EXIT trap when a signal ends it: a run stopped by timeout(1) or Ctrl-C left
# its node's sandboxes, bridge and pins behind, and the next run on that subnet was refused.
trap 'exit 143' TERM
trap 'exit 130' INT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {
	local port=$1 i
	for i in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on $port" >&2
	return 1
}

# start_xwhisk: sets NODE_PORT and CONTROLLER_PORT
start_xwhisk() {
	# Its own maps, bridge and addresses: nothing shared with a system already running.
	export XWHISK_PIN_DIR=${XWHISK_PIN_DIR:-/sys/fs/bpf/xwhisk-bench-$$}
	export XWHISK_SANDBOX_BRIDGE=${XWHISK_SANDBOX_BRIDGE:-xwbench$$}
	export XWHISK_XDP_IFACE=${XWHISK_XDP_IFACE-}
	export XWHISK_SANDBOX_SUBNET=${XWHISK_SANDBOX_SUBNET:-169.254.248.0/22}
	xwhisk_started=1
	NODE_PORT=$(free_port)
	CONTROLLER_PORT=$(free_port)
	XWHISK_DATA_DIR=$bench_tmp/data XWHISK_NODE_LISTEN=127.0.0.1:$NODE_PORT \
		XWHISK_CONTROLLER_LISTEN=127.0.0.1:$CONTROLLER_PORT XWHISK_BIN=$bin \
		XWHISK_LOG_LEVEL=warn "$top/scripts/xwhisk-run" >"$bench_tmp/xwhisk.log" 2>&1 &
	bench_pids+=($!)
	xwhisk_run_pid=$!
	wait_port "$NODE_PORT"
	# Ours, not another system's on this machine (tests, other benchmarks).
	NODE_PID=$(pgrep -P "$xwhisk_run_pid" -f "xwhisk-node" | head -n 1)
	CONTROLLER_PID=$(pgrep -P "$xwhisk_run_pid" -f "xwhisk-controller" | head -n 1)
}

# bench_user: a user "bench" without throttles on the system start_xwhisk started; sets
# key (its credentials) and api (its namespace's URL).
bench_user() {
	key=$("$bin/xwhisk-admin" --data-dir "$bench_tmp/data" user create bench)
	"$bin/xwhisk-admin" --data-dir "$bench_tmp/data" limits set bench \
		--invocationsPerMinute 100000000 --concurrentInvocations 100000 >/dev/null
	api=http://127.0.0.1:$NODE_PORT/api/v1/namespaces/_
}

# put_action NAME KIND CODE [MORE_JSON]: creates it with limits.concurrency
# BENCH_ACTION_CONCURRENCY (64) and MORE_JSON (',"annotations":[...]') and invokes it once,
# so that its sandbox is warm.
put_action() {
	local code
	code=$(printf '%s' "$3" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
	curl -sf -u "$key" -X PUT -H 'Content-Type: application/json' \
		-d "{\"exec\":{\"kind\":\"$2\",\"code\":$code},\"limits\":{\"concurrency\":${BENCH_ACTION_CONCURRENCY:-64}}${4:-}}" \
		"$api/actions/$1?overwrite=true" >/dev/null
	curl -sf -u "$key" -X POST -H 'Content-Type: application/json' -d '{}' \
		"$api/actions/$1?blocking=true&result=true" >/dev/null
}

# bare_server_js: the bare Node.js server (what nginx fronts in invoke.sh's and
# per-request.sh's nodejs targets): the same parse, the same main, the
# same serialisation of its result. BARE_SANDBOX=1 makes it a sandbox's server instead: it
# listens on the sandbox's port 8080, takes /init (and ignores the code: its main is this
# one), reads /run's "value", and says with X-Xwhisk-Logs: 0 that the run logged nothing,
# as an xwhisk-proxy answers such a run. Its main is $js_main (default: a no-op).
noop_js_main='function main(params) { return {} }'
bare_server_js() {
	cat <<JS
const http = require('http');
${js_main:-$noop_js_main}
const sandbox = process.env.BARE_SANDBOX === '1';
const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
        let out;
        const head = { 'Content-Type': 'application/json' };
        try {
            const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
            if (sandbox && req.url === '/init')
                out = '{"ok":true}';
            else
                out = JSON.stringify(main(sandbox ? body.value || {} : body));
        } catch (e) {
            res.writeHead(400);
            return res.end();
        }
        if (sandbox)
            head['X-Xwhisk-Logs'] = '0';
        head['Content-Length'] = Buffer.byteLength(out);
        res.writeHead(200, head);
        res.end(out);
    });
});
// nginx keeps its upstream connections for 60 s: do not close them under it.
server.keepAliveTimeout = 600000;
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(sandbox ? 8080 : +process.argv[2], sandbox ? '0.0.0.0' : '127.0.0.1');
JS
}

# start_bare_server [NODE_BIN]: the bare server on a free loopback port, as nginx's upstream;
# sets server_port and server_pid.
start_bare_server() {
	bare_server_js >"$bench_tmp/server.js"
	server_port=$(free_port)
	"${1:-node}" "$bench_tmp/server.js" "$server_port" >"$bench_tmp/server.log" 2>&1 &
	server_pid=$!
	bench_pids+=("$server_pid")
	wait_port "$server_port"
}

# start_nginx UPSTREAM_PORT [UPSTREAM_HOST] [NAME]: a keep-alive proxy_pass in front of it;
# sets NGINX_PORT. One worker per CPU, as nginx's "auto". NGINX_UPSTREAM, when set, replaces
# the upstream's one server line (several servers, a balancing method). NAME tells instances apart when a
# benchmark runs several (nginx_pids NAME lists one's processes). A round that needs more
# sets NGINX_MAIN, NGINX_HTTP or NGINX_LOCATION (directives added at that level) for the
# call; $NGINX_DIR in them is the instance's own directory.
start_nginx() {
	local upstream_host=${2:-127.0.0.1} d=$bench_tmp/nginx${3:+-$3}
	local main=${NGINX_MAIN:-} http=${NGINX_HTTP:-} loc=${NGINX_LOCATION:-}
	NGINX_PORT=$(free_port)
	mkdir -p "$d"
	cat >"$d.conf" <<CONF
${main//\$NGINX_DIR/$d}
worker_processes auto;
pid $d.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $d;
	proxy_temp_path $d;
	${http//\$NGINX_DIR/$d}
	upstream backend { ${NGINX_UPSTREAM:-server $upstream_host:$1;} keepalive 64; }
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			${loc//\$NGINX_DIR/$d}
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
		}
	}
}
CONF
	nginx -c "$d.conf" -p "$d"
	wait_port "$NGINX_PORT"
}

# nginx_pids [NAME]: the master and workers of the nginx start_nginx started (not any other
# nginx on the machine).
nginx_pids() {
	local master
	master=$(cat "$bench_tmp/nginx${1:+-$1}.pid" 2>/dev/null) || return 0
	echo "$master" $(pgrep -P "$master")
}

# proc_tree PID: PID and all its descendants (a sandbox's init, its proxy, the language
# process and whatever that started).
proc_tree() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ parent[$1 + 0] = $2 + 0 }
		END { for (p in parent) { q = p + 0
			while (q > 1 && q != root + 0) q = parent[q]
			if (q == root + 0) print p } }' | sort -n | tr '\n' ' '
}

# slots_dump: one line per slot in use in the node's pinned "slots" map:
#   INDEX STATE ACTION_ID GENERATION IP PORT PID
# STATE as enum xw_slot_state (1 starting, 2 warm, 3 draining), PID the sandbox's init on
# this host. The address is read whether bpftool shows it as an integer (a __u32 in
# network byte order) or as a 4-byte array, and from the raw bytes when the map has no BTF.
slots_dump() {
	bpftool -j map dump pinned "$XWHISK_PIN_DIR/slots" | python3 -c '
import json, socket, struct, sys

def num(x):
    return int(x, 0) if isinstance(x, str) else int(x)

def addr_bytes(a):
    if isinstance(a, dict):                    # a struct around it (in_addr and the like)
        return addr_bytes(next(iter(a.values())))
    if isinstance(a, (list, tuple)):           # __u8 addr[4]: already in network order
        return bytes(num(b) & 0xff for b in a)
    if isinstance(a, str) and a.count(".") == 3:
        return socket.inet_aton(a)
    return num(a).to_bytes(4, sys.byteorder)   # a __u32 holding network order

for e in json.load(sys.stdin):
    f = e.get("formatted") or (e if isinstance(e.get("value"), dict) else None)
    if f is not None:
        v = f["value"]
        idx, state, aid, gen = num(f["key"]), num(v["state"]), num(v["action_id"]), num(v["generation"])
        addr, port, pid = addr_bytes(v["addr"]), num(v["port"]), num(v.get("pid", 0))
    else:                                      # no BTF: struct xw_slot from its bytes
        raw = bytes(int(b, 16) for b in e["value"])
        idx = int.from_bytes(bytes(int(b, 16) for b in e["key"])[:4], sys.byteorder)
        bo = "<" if sys.byteorder == "little" else ">"
        state, _, _, gen, aid = struct.unpack_from(bo + "IIIIQ", raw)
        addr = raw[24:28]
        port = struct.unpack_from(bo + "H", raw, 28)[0]
        pid = struct.unpack_from(bo + "I", raw, 56)[0]
    if state:
        print(idx, state, aid, gen, socket.inet_ntoa(addr), port, pid)
'
}

# metric NAME: the value of one unlabelled metric on the node's /metrics.
metric() {
	curl -sf "http://127.0.0.1:$NODE_PORT/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}

# run_wrk NAME URL: prints "NAME <json>". BENCH_WRK_TIMEOUT sets wrk's --timeout (2s): a
# request slower than that counts as an error and is left out of the percentiles.
run_wrk() {
	local name=$1 url=$2 out
	out=$(WRK_AUTH=$(printf '%s' "$GUEST_AUTH" | base64 -w0) ${WRK_PREFIX:-} wrk -t"$BENCH_THREADS" \
		-c"$BENCH_CONNECTIONS" -d"$BENCH_DURATION" ${BENCH_WRK_TIMEOUT:+--timeout "$BENCH_WRK_TIMEOUT"} \
		--latency -s "$top/scripts/bench/report.lua" \
		"$url" | tail -n 1)
	echo "$name $out"
}

# The records of a round are shipped to the controller afterwards; the next round starts
# when that is done, so that it does not measure the previous one's bookkeeping.
wait_records_shipped() {
	local i
	# The last answers' records reach the gauge when the manager thread takes their
	# nudge, which may come after wrk has its answers: a moment for it.
	sleep 0.1
	for i in $(seq 1 600); do
		curl -sf "http://127.0.0.1:$NODE_PORT/metrics" | grep -q '^xwhisk_spool_backlog_bytes 0$' &&
			return 0
		sleep 0.1
	done
	echo "$(basename "$0"): records still unshipped after 60 s" >&2
}

# CPU time (utime + stime, in clock ticks) the given processes have used so far.
cpu_ticks() {
	local total=0 pid t
	for pid in "$@"; do
		t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || continue
		total=$((total + t))
	done
	echo "$total"
}

# Context switches (voluntary and not) of every thread of the given processes so far:
# each is a thread going to sleep or being put aside, the price of a wake-up.
ctx_switches() {
	local total=0 pid n
	for pid in "$@"; do
		n=$(cat /proc/"$pid"/task/*/status 2>/dev/null |
			awk '/^(non)?voluntary_ctxt_switches/ {s += $2} END {print s + 0}')
		total=$((total + n))
	done
	echo "$total"
}

# measure NAME URL BODY PIDS... [-- BACKEND_PIDS...]: the wrk figures (POST BODY) plus the
# CPU the PIDS spent and the context switches their threads made, per request
# (cpu_us_per_req, switches_per_req); the same for BACKEND_PIDS, when given, as
# backend_cpu_us_per_req and backend_switches_per_req (what serves behind the proxy).
# With BENCH_CONTROLLER_PID set, also the controller's CPU per request while wrk ran
# (controller_cpu_us_per_req) and while the records of the run were shipped after it
# (controller_after_us_per_req): storing the records is work the invocations cost on the
# same CPUs, even when part of it comes after the run.
measure() {
	local name=$1 url=$2 body=$3 line a
	local -a front=() back=()
	shift 3
	for a in "$@"; do
		if [ "$a" = -- ]; then
			back=(--)
		elif [ ${#back[@]} -gt 0 ]; then
			back+=("$a")
		else
			front+=("$a")
		fi
	done
	back=("${back[@]:1}")
	local before sw_before bbefore bsw_before after sw_after bafter bsw_after
	local ctl=${BENCH_CONTROLLER_PID:-} cbefore=0 cafter=0 cshipped=0
	before=$(cpu_ticks "${front[@]}")
	sw_before=$(ctx_switches "${front[@]}")
	bbefore=$(cpu_ticks "${back[@]}")
	bsw_before=$(ctx_switches "${back[@]}")
	[ -z "$ctl" ] || cbefore=$(cpu_ticks "$ctl")
	line=$(WRK_METHOD=POST WRK_BODY=$body run_wrk "$name" "$url")
	after=$(cpu_ticks "${front[@]}")
	sw_after=$(ctx_switches "${front[@]}")
	bafter=$(cpu_ticks "${back[@]}")
	bsw_after=$(ctx_switches "${back[@]}")
	if [ -n "$ctl" ]; then
		cafter=$(cpu_ticks "$ctl")
		wait_records_shipped
		cshipped=$(cpu_ticks "$ctl")
	fi
	python3 - "$line" "$(getconf CLK_TCK)" "$before" "$after" "$sw_before" "$sw_after" \
		"${#back[@]}" "$bbefore" "$bafter" "$bsw_before" "$bsw_after" \
		"${ctl:-0}" "$cbefore" "$cafter" "$cshipped" <<'PY'
import json, sys
a = sys.argv
name, rest = a[1].split(' ', 1)
r = json.loads(rest)
n, tck = max(r['requests'], 1), int(a[2])
per_req = lambda t0, t1: round((int(t1) - int(t0)) * 1e6 / tck / n, 1)
r['cpu_us_per_req'] = per_req(a[3], a[4])
r['switches_per_req'] = round((int(a[6]) - int(a[5])) / n, 2)
if int(a[7]):
    r['backend_cpu_us_per_req'] = per_req(a[8], a[9])
    r['backend_switches_per_req'] = round((int(a[11]) - int(a[10])) / n, 2)
if int(a[12]):
    r['controller_cpu_us_per_req'] = per_req(a[13], a[14])
    r['controller_after_us_per_req'] = per_req(a[14], a[15])
print(name, json.dumps(r))
PY
}
