# SPDX-License-Identifier: Apache-2.0
# Sourced by the tests/netns scripts: test hosts in network namespaces of their own, on one
# bridge (in a namespace of its own too). Addresses exist only inside these namespaces.
# A namespace is named PREFIX-HOST-ID; the bridge's is PREFIX-lan-ID.

# lan_up PREFIX ID V4NET V6NET HOST...: HOST number i (from 1) gets eth0 with V4NET.i/24 and,
# when V6NET is not empty, V6NET::i/64. Non-zero when a step fails.
lan_up() {
	local prefix=$1 id=$2 v4=$3 v6=$4 lan=$1-lan-$2 host ns i=1
	shift 4
	ip netns add "$lan" && ip -n "$lan" link set lo up || return 1
	ip -n "$lan" link add br0 type bridge && ip -n "$lan" link set br0 up || return 1
	for host in "$@"; do
		ns=$prefix-$host-$id
		ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
		ip link add eth0 netns "$ns" type veth peer name "p-$host" netns "$lan" || return 1
		ip -n "$lan" link set "p-$host" master br0 up || return 1
		ip -n "$ns" addr add "$v4.$i/24" dev eth0 || return 1
		if [ -n "$v6" ]; then
			ip -n "$ns" addr add "$v6::$i/64" dev eth0 nodad || return 1
		fi
		ip -n "$ns" link set eth0 up || return 1
		i=$((i + 1))
	done
}

# lan_down PREFIX ID HOST...: removes what lan_up made (what exists of it).
lan_down() {
	local prefix=$1 id=$2 host
	shift 2
	for host in "$@" lan; do
		ip netns del "$prefix-$host-$id" 2>/dev/null
	done
	return 0
}

# in_ns NS COMMAND...: runs COMMAND in NS's network namespace only. nsenter, not "ip netns
# exec": that one mounts another /sys, without the cgroup and bpf file systems of the host.
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}
