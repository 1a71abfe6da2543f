// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * sock_accel: splices a streaming web action's client socket and sandbox socket. Both sit
 * in accel_socks (client at 2k, sandbox at 2k+1); this sk_skb stream verdict program runs
 * on every skb either socket receives and redirects it to the egress of the other, so the
 * kernel moves the bytes and the router only keeps the books (accel_peers counts them).
 *
 * A socket whose peer is not in the map yet (the node inserts the sandbox's socket first,
 * writes the request head, then inserts the client's) keeps its bytes: they stay queued on
 * it (SK_PASS, held) and the node forwards them itself. So does a socket whose peer is a
 * slow reader: once the kernel queues XW_ACCEL_QUEUE_MAX skbs for the peer, later ones stay
 * on their own socket, where they are charged to its receive memory and close its TCP
 * window: the sender waits, and the node holds a bounded number of bytes per session
 * whatever the client or the action does. Once a byte is held, every later one is too
 * until the node has forwarded them all (accel_fwd), so none overtakes.
 *
 * A socket in the map that has no accel_peers entry is a bookkeeping error: its bytes are
 * dropped and counted. An empty skb
 * (a FIN alone) goes nowhere: sent to a socket's egress it fails (0 bytes is a hard error
 * to the kernel's psock worker, which then sets EPIPE on that socket and sends it nothing
 * more, held bytes included), and the node passes an end on itself.
 *
 * A client's socket flagged XW_ACCEL_F_INTO sends its bytes past the sandbox socket's
 * egress, straight into the receive queue of the sandbox's own end (msg_into): the node's
 * second TCP stack, the veth and the bridge drop out of an upload.
 */
#include "lib/accel.h"
#include "lib/maps.h"
#include "lib/psock.h"

static __always_inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* "HTTP/1.x NNN" at the start of the first skb: the response's status, once. An interim
 * answer (100 Continue) is skipped: the final one starts a later skb. */
static __always_inline void read_status(struct __sk_buff *skb, struct xw_accel_peer *p)
{
	char l[12];
	__u16 st;

	if (bpf_skb_load_bytes(skb, 0, l, sizeof(l)) || l[0] != 'H' || l[1] != 'T' ||
	    l[2] != 'T' || l[3] != 'P' || l[4] != '/' || l[8] != ' ' || !is_digit(l[9]) ||
	    !is_digit(l[10]) || !is_digit(l[11])) {
		p->flags &= ~XW_ACCEL_F_STATUS;
		return;
	}
	st = (__u16)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
	if (st >= 100 && st < 200 && st != 101)
		return;
	p->status = st;
	p->flags &= ~XW_ACCEL_F_STATUS;
}

/* Skbs the kernel queues for the socket a map holds under key, or -1 without one. */
static __always_inline int queued_for(void *map, void *key)
{
	struct bpf_sock *s = bpf_map_lookup_elem(map, key);
	struct xw_psock_state st;

	if (!s)
		return -1;
	xw_psock_state(s, &st);
	bpf_sk_release(s);
	return (int)st.queued;
}

/* Where skb goes: XW_OK (to the peer), XW_ACCEL_INTO (into the sandbox's own socket), or
 * kept on its socket: XW_ACCEL_HELD (no peer yet, or earlier bytes still held),
 * XW_ACCEL_FULL (the peer is behind). */
static __always_inline int route(struct __sk_buff *skb, struct xw_accel_peer *p)
{
	__u32 self = p->peer ^ 1;
	__u64 *fwd = bpf_map_lookup_elem(&accel_fwd, &self);
	int q;

	if (!fwd || *fwd != p->held)
		return XW_ACCEL_HELD;
	if (p->flags & XW_ACCEL_F_INTO) {
		q = queued_for(&msg_into, &p->into);
		if (q >= XW_ACCEL_QUEUE_MAX)
			return XW_ACCEL_FULL;
		if (q >= 0 &&
		    bpf_sk_redirect_hash(skb, &msg_into, &p->into, BPF_F_INGRESS) == SK_PASS)
			return XW_ACCEL_INTO;
	}
	q = queued_for(&accel_socks, &p->peer);
	if (q < 0)
		return XW_ACCEL_HELD;
	if (q >= XW_ACCEL_QUEUE_MAX)
		return XW_ACCEL_FULL;
	/* Returns SK_PASS with the redirect recorded in skb, or SK_DROP when the peer's
	 * index holds no socket. */
	if (bpf_sk_redirect_map(skb, &accel_socks, p->peer, 0) != SK_PASS)
		return XW_ACCEL_HELD;
	return XW_OK;
}

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/*
 * How many bytes at skb's front were taken already (-1: all of them). TCP queues a
 * retransmitted segment that starts before what it received (a partial overlap, its
 * sequence before rcv_nxt) as it is, for recvmsg to skip by copied_seq; tcp_read_skb
 * hands the verdict whole skbs, so the overlap would go out twice. A socket whose held
 * bytes fill its receive memory drops segments, and the retransmissions overlap.
 */
static __always_inline int taken_already(struct __sk_buff *ctx, struct xw_accel_peer *p)
{
	struct sk_buff *skb = bpf_cast_to_kern_ctx(ctx);
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)skb->cb;
	__u32 seq = cb->seq, end = seq + ctx->len;
	int before = (int)(p->next_seq - seq);

	if (!(p->flags & XW_ACCEL_F_SEQ) || before <= 0) {
		p->next_seq = end;
		p->flags |= XW_ACCEL_F_SEQ;
		return 0;
	}
	if (before >= (int)ctx->len)
		return -1;
	p->next_seq = end;
	return before;
}

/* The most an sk_skb program's bpf_skb_adjust_room takes off at once (net/core/filter.c,
 * sk_skb_adjust_room: more is -EFAULT), and how many such cuts one skb may need: an
 * overlap is at most one retransmitted skb, 64 KB (GSO) or 512 KB with BIG TCP. */
#define XW_ADJUST_ROOM_MAX 0xfff
#define XW_CUTS_MAX 160

/* Takes len bytes off skb's front, in steps the helper accepts; nonzero on failure. A
 * whole loopback segment (65,483 bytes) retransmitted in front of new ones needs 16.
 * Global (not inlined): the verifier checks its loop once, not once per path into it. */
__noinline int cut_front(struct __sk_buff *skb, int len)
{
	for (int i = 0; i < XW_CUTS_MAX && len > 0; i++) {
		int step = len < XW_ADJUST_ROOM_MAX ? len : XW_ADJUST_ROOM_MAX;

		if (bpf_skb_adjust_room(skb, -step, 0, 0))
			return -1;
		len -= step;
	}
	return len > 0;
}

/* XW_ACCEL_FIN (nowhere), a drop, or where route() sends skb; held bytes are counted. */
static __always_inline int accel_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct xw_accel_peer *p = bpf_map_lookup_elem(&accel_peers, &cookie);
	int ret, old;

	if (!p)
		return -XW_DROP_ACCEL_UNPAIRED;
	if (!skb->len)
		return XW_ACCEL_FIN;
	old = taken_already(skb, p);
	if (old < 0)
		return XW_ACCEL_OLD;
	/* Counted once cut: an skb whose cut fails counts whole as trim. */
	if (old > 0) {
		if (cut_front(skb, old))
			return -XW_DROP_ACCEL_TRIM;
		xw_accel_count(XW_ACCEL_OLD, 0, (__u32)old);
	}
	if (p->flags & XW_ACCEL_F_STATUS)
		read_status(skb, p);
	__sync_fetch_and_add(&p->bytes, skb->len);
	ret = route(skb, p);
	if (ret == XW_ACCEL_HELD || ret == XW_ACCEL_FULL)
		__sync_fetch_and_add(&p->held, skb->len);
	return ret;
}

SEC("sk_skb/stream_verdict")
int sock_accel(struct __sk_buff *skb)
{
	int ret = accel_verdict(skb);

	xw_accel_count(ret < 0 ? (__u32)-ret : (__u32)ret, 1, skb->len);
	/* A held skb passes without a redirect: it is queued on its own socket. */
	return ret < 0 || ret == XW_ACCEL_FIN || ret == XW_ACCEL_OLD ? SK_DROP : SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
