#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A throwaway PostgreSQL server for the tests: initdb into a temporary directory, pg_ctl
# on a free port of 127.0.0.1, as a non-root user (PostgreSQL refuses to run as root).
#   tests/pg/pgtmp.sh start          starts one; prints its URI (postgresql://...) only
#   tests/pg/pgtmp.sh stop URI       stops it and removes its directory
#   tests/pg/pgtmp.sh down URI       stops the server, keeps its data (fault tests)
#   tests/pg/pgtmp.sh up URI         starts a stopped one again on the same port
#   tests/pg/pgtmp.sh freeze URI     stops its postmaster (SIGSTOP): new connections hang
#                                    unanswered, as behind a network that drops packets;
#                                    sessions already open go on
#   tests/pg/pgtmp.sh thaw URI       lets it go on (SIGCONT)
#   tests/pg/pgtmp.sh available      exits 0 when a server can be started here
# Run as root, the server runs as the system user $PGTMP_USER (default xwhisk-test),
# created when missing. Its directory is $PGTMP_ROOT/xwhisk-pg.PORT (default /tmp).
set -euo pipefail

user=${PGTMP_USER:-xwhisk-test}
root_dir=$(realpath -m "${PGTMP_ROOT:-/tmp}")
db=xwhisk
# The server's user may not enter the caller's directory (a checkout under /root).
cd /

die() {
	echo "pgtmp: $*" >&2
	exit 1
}

bindir() {
	local d
	if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
		pg_config --bindir
		return
	fi
	# Debian keeps the server binaries per major version; the newest wins.
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -x "$d/initdb" ] || return 1
	echo "$d"
}

# as_user CMD...: runs CMD as the server's user (ourselves when not root).
as_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$user" -- "$@"
	else
		"$@"
	fi
}

ensure_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	id -u "$user" >/dev/null 2>&1 && return 0
	useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
		"$user" >/dev/null 2>&1 || id -u "$user" >/dev/null 2>&1 ||
		die "cannot create the user $user"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

port_of() {
	local p=${1##*:}
	p=${p%%/*}
	[[ "$p" =~ ^[0-9]+$ ]] || die "no port in '$1'"
	echo "$p"
}

server_start() { # dir port
	as_user "$bin/pg_ctl" -D "$1/data" -l "$1/log" -w -t 60 -s \
		-o "-p $2 -k $1 -c listen_addresses=127.0.0.1 -c max_connections=50 -c shared_buffers=32MB" \
		start >/dev/null
}

cmd=${1:-}
case "$cmd" in
available)
	bindir >/dev/null
	;;
start)
	bin=$(bindir) || die "no PostgreSQL server binaries (Debian package postgresql)"
	ensure_user
	for attempt in 1 2 3; do
		port=$(free_port)
		dir=$root_dir/xwhisk-pg.$port
		mkdir "$dir" 2>/dev/null || continue
		chmod 700 "$dir"
		if [ "$(id -u)" -eq 0 ]; then
			chown "$user" "$dir"
		fi
		as_user "$bin/initdb" -D "$dir/data" -U "$user" -A trust -E UTF8 --locale=C \
			>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; die "initdb failed"; }
		if server_start "$dir" "$port"; then
			as_user "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$user" "$db" ||
				die "createdb failed"
			echo "postgresql://$user@127.0.0.1:$port/$db"
			exit 0
		fi
		# Most likely the port was taken between the probe and the start: another one.
		tail -n 5 "$dir/log" >&2 || true
		rm -rf "$dir"
	done
	die "the server did not start"
	;;
freeze | thaw)
	[ $# -ge 2 ] || die "usage: $0 $cmd URI"
	pidfile=$root_dir/xwhisk-pg.$(port_of "$2")/data/postmaster.pid
	[ -f "$pidfile" ] || die "no running server for $2"
	kill "-$([ "$cmd" = freeze ] && echo STOP || echo CONT)" "$(head -n 1 "$pidfile")"
	;;
stop | down | up)
	[ $# -ge 2 ] || die "usage: $0 $cmd URI"
	bin=$(bindir) || die "no PostgreSQL server binaries"
	port=$(port_of "$2")
	dir=$root_dir/xwhisk-pg.$port
	[ -d "$dir/data" ] || die "no server at $dir"
	case "$cmd" in
	up)
		server_start "$dir" "$port"
		;;
	*)
		if [ -f "$dir/data/postmaster.pid" ]; then
			as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w -s stop >/dev/null 2>&1 ||
				as_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w -s stop >/dev/null 2>&1 || true
		fi
		if [ "$cmd" = stop ]; then
			rm -rf "$dir"
		fi
		;;
	esac
	;;
*)
	echo "usage: $0 start | stop URI | down URI | up URI | freeze URI | thaw URI | available" >&2
	exit 2
	;;
esac
