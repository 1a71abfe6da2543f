#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Management-plane read path: GET of one action, three ways in one run:
#   controller   the controller directly (the baseline)
#   nginx        nginx proxy_pass (keep-alive upstream) in front of the controller
#   node         xwhisk-node forwarding to the controller (what clients use)
# Prints one JSON line per target and the node/nginx ratios.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

start_xwhisk
curl -sf -u "$GUEST_AUTH" -X PUT -H 'Content-Type: application/json' \
	-d '{"exec":{"kind":"nodejs:20","code":"function main(p) { return p }"}}' \
	"http://127.0.0.1:$NODE_PORT/api/v1/namespaces/_/actions/bench?overwrite=true" >/dev/null
start_nginx "$CONTROLLER_PORT"

path=/api/v1/namespaces/_/actions/bench
results=$(
	run_wrk controller "http://127.0.0.1:$CONTROLLER_PORT$path"
	run_wrk nginx "http://127.0.0.1:$NGINX_PORT$path"
	run_wrk node "http://127.0.0.1:$NODE_PORT$path"
)
echo "$results"
python3 - "$results" <<'PY'
import json, sys
r = {l.split(' ', 1)[0]: json.loads(l.split(' ', 1)[1]) for l in sys.argv[1].splitlines()}
n, x, c = r['node'], r['nginx'], r['controller']
print(f"node/nginx throughput {n['rps']/x['rps']:.2f}x; added p50 over direct: "
      f"node {n['p50_us']-c['p50_us']} us, nginx {x['p50_us']-c['p50_us']} us; "
      f"errors node {n['errors']} nginx {x['errors']} controller {c['errors']}")
PY
