#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# A native action in shell speaking the ActionLoop protocol (kind "native"): the loop
# reads one JSON line per activation on stdin and answers one JSON line on fd 3.
# Anything printed on stdout or stderr is the activation's log. The process lives on
# across activations, so per-activation fields (activation_id, deadline...) come in
# the line, not in the environment.
#   wsk action create hello hello.sh --kind native
field() {
	printf '%s' "$line" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}
while read -r line; do
	name=$(field name)
	echo "activation $(field activation_id)"
	echo "{\"greeting\":\"Hello, ${name:-stranger}\"}" >&3
done
