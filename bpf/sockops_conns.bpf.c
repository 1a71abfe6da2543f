// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * sockops_conns: counts each client's open connections to the ingress port exactly, for
 * xdp_guard's cap. Attached to a cgroup v2 (the node's own by default): the kernel calls it
 * when a passive connection is established (the handshake completed, the socket waits in
 * the accept queue or is served) and, because it asks for state callbacks on the sockets
 * it counted, when that socket reaches TCP_CLOSE (closed, reset, or moved to TIME_WAIT).
 * The socket's local storage remembers under which source it was counted, so a close gives
 * back exactly what its establishment took, and sockets counted by no one are ignored.
 */
#include "lib/maps.h"

#define XW_AF_INET 2
#define XW_AF_INET6 10

static __always_inline void count_add(const struct xw_guard_key *src, int delta)
{
	struct xw_guard_conns *c, fresh = { .open = 1 };

	c = bpf_map_lookup_elem(&guard_conns, src);
	if (c) {
		__sync_fetch_and_add(&c->open, delta);
		return;
	}
	if (delta < 0)
		return;
	if (bpf_map_update_elem(&guard_conns, src, &fresh, BPF_NOEXIST) == 0)
		return;
	/* Another CPU created it first (or the map is full: the source goes uncounted). */
	c = bpf_map_lookup_elem(&guard_conns, src);
	if (c)
		__sync_fetch_and_add(&c->open, delta);
}

static __always_inline void on_established(struct bpf_sock_ops *skops,
					   const struct xw_guard_cfg *cfg)
{
	struct xw_guard_key src = {};
	struct xw_guard_sock *mark;
	struct bpf_sock *sk;

	if (skops->local_port != cfg->port)
		return;
	if (skops->family == XW_AF_INET) {
		__be32 a = skops->remote_ip4;

		src.addr[10] = 0xff;
		src.addr[11] = 0xff;
		__builtin_memcpy(&src.addr[12], &a, 4);
	} else if (skops->family == XW_AF_INET6) {
		__u32 a[4] = { skops->remote_ip6[0], skops->remote_ip6[1], skops->remote_ip6[2],
			       skops->remote_ip6[3] };

		__builtin_memcpy(src.addr, a, 16);
	} else {
		return;
	}
	sk = skops->sk;
	if (!sk)
		return;
	mark = bpf_sk_storage_get(&guard_socks, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	if (!mark)
		return;
	mark->src = src;
	count_add(&src, 1);
	bpf_sock_ops_cb_flags_set(skops, skops->bpf_sock_ops_cb_flags | BPF_SOCK_OPS_STATE_CB_FLAG);
}

static __always_inline void on_state(struct bpf_sock_ops *skops)
{
	struct xw_guard_sock *mark;
	struct bpf_sock *sk;

	if (skops->args[1] != BPF_TCP_CLOSE)
		return;
	sk = skops->sk;
	if (!sk)
		return;
	mark = bpf_sk_storage_get(&guard_socks, sk, NULL, 0);
	if (!mark)
		return;
	count_add(&mark->src, -1);
	bpf_sk_storage_delete(&guard_socks, sk);
}

SEC("sockops")
int sockops_conns(struct bpf_sock_ops *skops)
{
	const struct xw_guard_cfg *cfg;
	__u32 zero = 0;

	switch (skops->op) {
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		cfg = bpf_map_lookup_elem(&guard_cfg, &zero);
		if (cfg && cfg->port)
			on_established(skops, cfg);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		on_state(skops);
		break;
	}
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
