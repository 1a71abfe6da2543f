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
	[ -f "$bench_tmp/nginx.pid" ] && kill "$(cat "$bench_tmp/nginx.pid")" 2>/dev/null
	rm -rf "$bench_tmp"
}
trap bench_cleanup EXIT

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
	export XWHISK_SANDBOX_SUBNET=${XWHISK_SANDBOX_SUBNET:-169.254.248.0/22}
	xwhisk_started=1
	NODE_PORT=$(free_port)
	CONTROLLER_PORT=$(free_port)
	XWHISK_DATA_DIR=$bench_tmp/data XWHISK_NODE_LISTEN=127.0.0.1:$NODE_PORT \
		XWHISK_CONTROLLER_LISTEN=127.0.0.1:$CONTROLLER_PORT XWHISK_BIN=$bin \
		XWHISK_LOG_LEVEL=warn "$top/scripts/xwhisk-run" >"$bench_tmp/xwhisk.log" 2>&1 &
	bench_pids+=($!)
	wait_port "$NODE_PORT"
}

# start_nginx UPSTREAM_PORT [UPSTREAM_HOST]: a keep-alive proxy_pass in front of it; sets
# NGINX_PORT. One worker per CPU, as nginx's "auto".
start_nginx() {
	local upstream_host=${2:-127.0.0.1}
	NGINX_PORT=$(free_port)
	mkdir -p "$bench_tmp/nginx"
	cat >"$bench_tmp/nginx.conf" <<CONF
worker_processes auto;
pid $bench_tmp/nginx.pid;
error_log $bench_tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $bench_tmp/nginx;
	proxy_temp_path $bench_tmp/nginx;
	upstream backend { server $upstream_host:$1; keepalive 64; }
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
		}
	}
}
CONF
	nginx -c "$bench_tmp/nginx.conf" -p "$bench_tmp/nginx"
	wait_port "$NGINX_PORT"
}

# run_wrk NAME URL: prints "NAME <json>"
run_wrk() {
	local name=$1 url=$2 out
	out=$(WRK_AUTH=$(printf '%s' "$GUEST_AUTH" | base64 -w0) ${WRK_PREFIX:-} wrk -t"$BENCH_THREADS" \
		-c"$BENCH_CONNECTIONS" -d"$BENCH_DURATION" --latency -s "$top/scripts/bench/report.lua" \
		"$url" | tail -n 1)
	echo "$name $out"
}
