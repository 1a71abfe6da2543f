// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * sockops_msg: puts the server end of each connection to a sandbox's runtime into
 * msg_socks, where sock_msg_redirect finds it. The node owns the other end and adds it
 * itself once the connection is idle (nothing in flight either way, so no byte sent by TCP
 * can be overtaken by a redirected one). The sandbox's end belongs to a process inside the
 * sandbox, which the node never holds: the kernel tells this program when the connection
 * is established. Attached to a cgroup v2 holding the sandboxes (the root where they live
 * under cgroup v1), so it filters on what msg_cfg names: the runtime port (or a language
 * loop's run port beside it, xwhisk/sandbox_net.h) on an address of the node's sandbox
 * subnet, connected from the node's address on the bridge. Nothing else a sandbox opens or
 * serves is touched, nor another node's connection to it. A streaming action's server end
 * (the stream port) goes to msg_into: the target of its client's upload (sock_accel), its
 * own sends (the answer) taken by accel_answer.
 */
#include "lib/maps.h"

#include <bpf/bpf_endian.h>

#define XW_AF_INET 2

SEC("sockops")
int sockops_msg(struct bpf_sock_ops *skops)
{
	const struct xw_msg_cfg *cfg;
	struct xw_msg_key k = {};
	__u32 zero = 0;

	if (skops->op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB || skops->family != XW_AF_INET)
		return 1;
	cfg = bpf_map_lookup_elem(&msg_cfg, &zero);
	if (!cfg || !cfg->port ||
	    (skops->local_port != cfg->port &&
	     skops->local_port != cfg->port + XW_SANDBOX_RUN_PORT_OFFSET &&
	     skops->local_port != cfg->port + XW_SANDBOX_STREAM_PORT_OFFSET) ||
	    (skops->local_ip4 & cfg->mask) != cfg->net || skops->remote_ip4 != cfg->peer)
		return 1;
	/* As sock_msg_redirect reads its peer's key: ports in network order, remote_port in
	 * the upper half. */
	k.local_ip4 = skops->local_ip4;
	k.remote_ip4 = skops->remote_ip4;
	k.local_port = bpf_htons((__u16)skops->local_port);
	k.remote_port = (__u16)(skops->remote_port >> 16);
	if (skops->local_port == cfg->port + XW_SANDBOX_STREAM_PORT_OFFSET)
		bpf_sock_hash_update(skops, &msg_into, &k, BPF_ANY);
	else
		bpf_sock_hash_update(skops, &msg_socks, &k, BPF_ANY);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
