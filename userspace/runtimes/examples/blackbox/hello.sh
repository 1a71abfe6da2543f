#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A blackbox action with OpenWhisk's dockerskeleton contract (what
# `wsk action create hello hello.sh --native` makes): run once per activation with the
# arguments as one JSON string in $1 (and on stdin); the last line on stdout is the
# result, everything before it and stderr are the logs.
name=$(printf '%s' "$1" | sed -n 's/.*"name":"\([^"]*\)".*/\1/p')
echo "activation $__OW_ACTIVATION_ID, arguments $1"
echo "{\"greeting\":\"Hello, ${name:-stranger}\"}"
