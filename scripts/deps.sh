#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages xwhisk needs that are missing; without root, says which.
set -euo pipefail

packages=(
	build-essential pkg-config clang llvm
	libbpf-dev libxdp-dev bpftool libelf-dev zlib1g-dev
	libjansson-dev libhttp-parser-dev libsqlite3-dev libpq-dev libzip-dev libssl-dev libcurl4-openssl-dev
	libseccomp-dev libyaml-dev
	iproute2 nodejs npm python3 wrk nginx-light
	# the PostgreSQL store's tests start a server of their own
	postgresql
	# tests/k8s: the real kubectl applies k8s/ to a fake API server; openssl makes the
	# certificates of kubeconfig.sh; the fake reads k8s/rbac.yaml with PyYAML
	kubernetes-client openssl python3-yaml
)

missing=()
for p in "${packages[@]}"; do
	# node, npm and python3 may come from elsewhere than Debian; a working command is enough.
	case "$p" in
	nodejs) command -v node >/dev/null && continue ;;
	npm) command -v npm >/dev/null && continue ;;
	python3) command -v python3 >/dev/null && continue ;;
	kubernetes-client) command -v kubectl >/dev/null && continue ;;
	python3-yaml) python3 -c 'import yaml' 2>/dev/null && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "xwhisk needs these Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
