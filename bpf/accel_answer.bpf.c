// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * accel_answer: an sk_msg program on msg_into, the server ends of streaming actions. What
 * the action's server writes on a spliced stream (one in accel_answers, which names the
 * node's end) goes straight to the egress of the client's socket: the veth, the node's
 * socket and the kernel's psock worker drop out of the answer, which sock_accel's verdict could
 * not make cross at 0.8x of a direct connection (docs/BENCHMARKS.md, "Which way an answer
 * can cross the node").
 *
 * A write goes that way only while nothing can overtake or be overtaken, else it goes by
 * TCP to the node's socket as before, where sock_accel bounds what waits (its window
 * closes, the server's own send buffer fills, and its event loop waits for room instead
 * of spinning on a full client). The conditions:
 * - the verdict has read the answer's status (the first write takes TCP);
 * - nothing the node's socket received is held for the node to forward (accel_fwd);
 * - the server's socket has nothing unacknowledged: every byte it sent by TCP reached the
 *   node's socket, whose verdict ran before that ACK left;
 * - the kernel queues nothing for the client's socket (its psock worker is idle);
 * - the client's socket has room for twice the write: a redirect that finds its send
 *   buffer full fails part way (MSG_DONTWAIT from an event loop), and the bytes counted
 *   here must be the bytes sent.
 * The client's socket is read from accel_socks' own array (an sk_msg program may look a
 * socket up but not release it); reads that fault give 0.
 */
#include "lib/accel.h"
#include "lib/maps.h"
#include "lib/psock.h"

#include <bpf/bpf_endian.h>

/* This socket's key in msg_into, as sockops_msg made it (ports in network order). */
static __always_inline void own_key(struct sk_msg_md *msg, struct xw_msg_key *k)
{
	k->local_ip4 = msg->local_ip4;
	k->remote_ip4 = msg->remote_ip4;
	k->local_port = bpf_htons((__u16)msg->local_port);
	k->remote_port = (__u16)(msg->remote_port >> 16);
}

/* The client's socket at idx in accel_socks: its free send space and the skbs the
 * kernel queues for it. Nonzero when there is no socket there. */
static __always_inline int client_room(__u32 idx, long *room, __u32 *queued)
{
	struct bpf_stab *stab =
	    bpf_rdonly_cast(&accel_socks, bpf_core_type_id_kernel(struct bpf_stab));
	struct sock *sk = NULL;
	struct tcp_sock *tp;
	struct sk_psock *ps;

	if (idx >= 2 * XW_ACCEL_MAX_PAIRS ||
	    bpf_probe_read_kernel(&sk, sizeof(sk), &stab->sks[idx]) || !sk)
		return -1;
	tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	*room = (long)tp->inet_conn.icsk_inet.sk.sk_sndbuf -
		tp->inet_conn.icsk_inet.sk.sk_wmem_queued;
	ps = xw_psock_of(tp);
	*queued = ps ? ps->ingress_skb.qlen : 0;
	return 0;
}

/* Whether nothing this socket sent by TCP is still on its way to the node's socket. */
static __always_inline bool all_acked(struct sk_msg_md *msg)
{
	struct bpf_sock *s = msg->sk;
	struct tcp_sock *tp = s ? bpf_skc_to_tcp_sock(s) : NULL;

	return tp && tp->snd_una == tp->write_seq;
}

SEC("sk_msg")
int accel_answer(struct sk_msg_md *msg)
{
	struct xw_msg_key k = {};
	struct xw_accel_answer *a;
	struct xw_accel_peer *p;
	__u32 self, queued = 0, size = msg->size;
	__u64 *fwd;
	long room = 0;

	own_key(msg, &k);
	a = bpf_map_lookup_elem(&accel_answers, &k);
	if (!a)
		return SK_PASS;
	p = bpf_map_lookup_elem(&accel_peers, &a->scookie);
	if (!p || (p->flags & XW_ACCEL_F_STATUS))
		return SK_PASS;
	self = p->peer ^ 1;
	fwd = bpf_map_lookup_elem(&accel_fwd, &self);
	if (!fwd || *fwd != p->held || !all_acked(msg) ||
	    client_room(p->peer, &room, &queued) || queued || room < 2 * (long)size)
		return SK_PASS;
	/* SK_DROP: no socket at that index; nothing was redirected and the write goes by
	 * TCP. */
	if (bpf_msg_redirect_map(msg, &accel_socks, p->peer, 0) != SK_PASS)
		return SK_PASS;
	__sync_fetch_and_add(&p->bytes, size);
	xw_accel_count(XW_ACCEL_MSG, 1, size);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
