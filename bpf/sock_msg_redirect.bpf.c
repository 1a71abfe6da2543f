// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * sock_msg_redirect: an sk_msg verdict on msg_socks (a sockhash). When a socket in the map
 * sends, the bytes go straight onto the receive queue of the connection's other end if
 * that socket is in the map too (bpf_msg_redirect_hash with BPF_F_INGRESS, as Cilium's
 * sockmap acceleration does): the sender and receiver are local, possibly in different
 * network namespaces joined by a veth, and the TCP stack between them is skipped. Without
 * the peer in the map the bytes go by TCP as usual.
 *
 * The node's end of a stream to a streaming action's server finds its peer in msg_into
 * instead (sockops_msg puts those there): its request head goes the way the client's
 * upload then goes (sock_accel's XW_ACCEL_F_INTO). The server's answer goes by
 * accel_answer, msg_into's own program, or by TCP to the node's socket, whose sk_skb
 * verdict splices it.
 */
#include "lib/maps.h"

#include <bpf/bpf_endian.h>

/* The key the connection's other end has in msg_socks: this end's 4-tuple reversed.
 * sk_msg_md's remote_port holds the network-order port in its upper 16 bits; local_port
 * is in host order. */
static __always_inline void peer_key(struct sk_msg_md *msg, struct xw_msg_key *k)
{
	k->local_ip4 = msg->remote_ip4;
	k->remote_ip4 = msg->local_ip4;
	k->local_port = (__u16)(msg->remote_port >> 16);
	k->remote_port = bpf_htons((__u16)msg->local_port);
}

SEC("sk_msg")
int sock_msg_redirect(struct sk_msg_md *msg)
{
	struct xw_msg_key k = {};
	struct xw_msg_stat *st;
	__u32 verdict = XW_MSG_REDIRECTED;

	peer_key(msg, &k);
	/* SK_DROP means no such socket: nothing was redirected and the msg passes. */
	if (bpf_msg_redirect_hash(msg, &msg_socks, &k, BPF_F_INGRESS) != SK_PASS &&
	    bpf_msg_redirect_hash(msg, &msg_into, &k, BPF_F_INGRESS) != SK_PASS)
		verdict = XW_MSG_NO_PEER;
	st = bpf_map_lookup_elem(&msg_stats, &verdict);
	if (st) {
		st->msgs++;
		st->bytes += msg->size;
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
