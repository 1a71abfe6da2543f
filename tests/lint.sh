#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Rules the compiler cannot check, one "ok"/"not ok" line each (tests/run.sh unit runs it).
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
failed=0

# JSON text is read by json_parse (userspace/lib/json.c) alone: one rule for NUL in strings
# everywhere (issue 11: documents written with \u0000 could not be read back).
found=$(grep -rn --include=*.c -E '\bjson_load[bsf]\(' userspace controller |
	grep -v -e '^userspace/lib/json\.c:' -e '^userspace/runtimes/examples/')
if [ -z "$found" ]; then
	echo "ok - lint: JSON is parsed by json_parse only"
else
	echo "not ok - lint: json_load* outside userspace/lib/json.c (use json_parse): $(echo "$found" | tr '\n' ' ')"
	failed=1
fi

# The image builds what a machine builds: k8s/Dockerfile installs every -dev package
# scripts/deps.sh does (a missing one empties pkg-config's flags, and the build fails).
# Comments do not count. The runtime stage's libraries have other names: not checked.
dev_packages() {
	sed 's/#.*//' "$1" | grep -oE '(^|[[:space:]])[a-z0-9][a-z0-9.+-]*-dev\b' | tr -d '[:blank:]'
}
missing=""
image=$(dev_packages k8s/Dockerfile)
for pkg in $(dev_packages scripts/deps.sh); do
	grep -qxF -- "$pkg" <<<"$image" || missing="$missing $pkg"
done
if [ -z "$missing" ]; then
	echo "ok - lint: k8s/Dockerfile installs every -dev package scripts/deps.sh does"
else
	echo "not ok - lint: k8s/Dockerfile lacks$missing"
	failed=1
fi
exit "$failed"
