// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * accel_room: how many bytes the node may forward by hand to one socket of a splice (the
 * bytes sock_accel held for it: docs/EBPF.md, "A slow reader"). Never attached: the node
 * runs it with bpf_prog_test_run_opts, the question (struct xw_accel_room_ask) as the
 * packet, the answer as the run's return value. A tc program because sk_skb programs
 * have no test_run; this one reads the same maps.
 *
 * Bytes written by hand must not overtake what the kernel still queues for that socket
 * (its psock's backlog), so the answer is 0 until that queue is empty. Then, to the
 * egress of a socket in accel_socks, any amount: the node's send() meets TCP's own limits.
 * Into the receive queue of a sandbox's socket (msg_into), the node's bytes go by
 * sock_msg_redirect, which does not look at room: the answer is what its receive buffer
 * has left. Without a socket there is nothing to overtake: any amount (it goes by TCP).
 */
#include "lib/maps.h"
#include "lib/psock.h"

static __always_inline __u32 room_of(void *map, void *key, bool into)
{
	struct bpf_sock *s = bpf_map_lookup_elem(map, key);
	struct xw_psock_state st;

	if (!s)
		return XW_ACCEL_ROOM_ANY;
	xw_psock_state(s, &st);
	bpf_sk_release(s);
	if (st.queued)
		return 0;
	if (!into)
		return XW_ACCEL_ROOM_ANY;
	return st.rmem < st.rcvbuf ? (__u32)(st.rcvbuf - st.rmem) : 0;
}

SEC("tc")
int accel_room(struct __sk_buff *skb)
{
	struct xw_accel_room_ask ask;

	/* after the Ethernet header test_run's packets start with */
	if (bpf_skb_load_bytes(skb, 14, &ask, sizeof(ask)))
		return 0;
	if (ask.into)
		return room_of(&msg_into, &ask.key, true);
	return room_of(&accel_socks, &ask.idx, false);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
