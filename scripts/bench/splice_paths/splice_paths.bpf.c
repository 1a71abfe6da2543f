// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/* Download splice prototype: an skb arriving on a socket in `socks` goes to the egress of
 * its peer (slot found by socket cookie in `peers`; for an AF_UNIX skb the cookie is the
 * SENDER's socket, skb->sk being the writer's). No flow control: a diagnostic only records
 * how many skbs wait for the peer's psock worker (ingress_skb) at most. msg mode: below. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u64);   /* socket cookie */
	__type(value, __u32); /* peer's slot in socks */
} peers SEC(".maps");

struct stats {
	__u64 bytes, skbs;  /* redirected */
	__u64 dropped;      /* skbs not redirected (FIN, no peer) */
	__u64 max_q;        /* most skbs seen queued for the peer's worker */
	__u64 passed, pmsgs; /* msg mode, MSG_GUARD: bytes/msgs let through by plain TCP */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} stats SEC(".maps");

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* Skbs waiting in the psock of the socket at slot (0 if it is not a TCP socket). */
static __always_inline __u64 queued(__u32 slot)
{
	struct bpf_sock *s = bpf_map_lookup_elem(&socks, &slot);
	struct tcp_sock *tp;
	struct sk_psock *ps;
	__u64 q = 0;

	if (!s)
		return 0;
	tp = bpf_skc_to_tcp_sock(s);
	if (tp) {
		ps = bpf_rdonly_cast((void *)((unsigned long)tp->inet_conn.icsk_inet.sk.sk_user_data & ~7UL),
				     bpf_core_type_id_kernel(struct sk_psock));
		if (ps)
			q = ps->ingress_skb.qlen;
	}
	bpf_sk_release(s);
	return q;
}

SEC("sk_skb/stream_verdict")
int splice_verdict(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u32 zero = 0, *peer = bpf_map_lookup_elem(&peers, &cookie);
	struct stats *st = bpf_map_lookup_elem(&stats, &zero);
	__u64 q;

	if (!st)
		return SK_DROP;
	/* A FIN alone (len 0) must not go to an egress: the worker would fail the peer. */
	if (!peer || !skb->len || bpf_sk_redirect_map(skb, &socks, *peer, 0) != SK_PASS) {
		__sync_fetch_and_add(&st->dropped, 1);
		return SK_DROP;
	}
	__sync_fetch_and_add(&st->bytes, skb->len);
	__sync_fetch_and_add(&st->skbs, 1);
	q = queued(*peer);
	if (q > st->max_q)
		st->max_q = q; /* racy max: a diagnostic */
	return SK_PASS;
}

/* msg mode: the writer's socket sits in msocks (slot 1), whose sk_msg program sends every
 * sendmsg to the egress of the node's client socket, slot 0 of socks (flags 0: not
 * ingress), so the writer's tcp_bpf_sendmsg pushes straight into the client socket. The
 * client socket is not in msocks: its own sends (the psock worker's) must not meet splice_msg.
 * skbs counts msgs. guard (set by splice_paths): 0 always redirect; 1 let a msg go by plain TCP (to
 * the node's socket, whose verdict forwards it) when the client socket has less send room
 * than msg->size; 2 as 1, but once diverted stay so until that path is empty (writer's
 * socket all acked, the client psock's queue empty), so that bytes cannot overtake. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} msocks SEC(".maps");

int guard, diverted;

/* Free send space of the client socket (socks slot 0) and the skbs its worker holds.
 * sk_msg may look a sockmap up but cannot release what it gets (no bpf_sk_release), so
 * this reads the map's own array: &socks is the kernel's struct bpf_stab, read untrusted
 * (bpf_rdonly_cast ignores its argument's type; faulting reads give 0). */
static __always_inline int client_room(long *room, __u64 *q)
{
	struct bpf_stab *stab = bpf_rdonly_cast(&socks, bpf_core_type_id_kernel(struct bpf_stab));
	struct sock *sk = 0;
	struct tcp_sock *tp;
	struct sk_psock *ps;

	if (bpf_probe_read_kernel(&sk, sizeof(sk), stab->sks) || !sk)
		return -1;
	tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	*room = (long)tp->inet_conn.icsk_inet.sk.sk_sndbuf - tp->inet_conn.icsk_inet.sk.sk_wmem_queued;
	ps = bpf_rdonly_cast((void *)((unsigned long)tp->inet_conn.icsk_inet.sk.sk_user_data & ~7UL),
			     bpf_core_type_id_kernel(struct sk_psock));
	if (ps)
		*q = ps->ingress_skb.qlen;
	return 0;
}

static __always_inline int divert(struct sk_msg_md *msg)
{
	long room = 0;
	__u64 q = 0;
	struct bpf_sock *sk = msg->sk;
	struct tcp_sock *wp;

	if (client_room(&room, &q))
		return 0; /* the redirect fails and drops, as without guard */
	if (room < msg->size)
		return diverted = 1;
	if (guard == 2 && diverted) {
		wp = sk ? bpf_skc_to_tcp_sock(sk) : 0;
		if (!wp || wp->snd_una != wp->write_seq || q)
			return 1;
	}
	return diverted = 0;
}

SEC("sk_msg")
int splice_msg(struct sk_msg_md *msg)
{
	__u32 zero = 0;
	struct stats *st = bpf_map_lookup_elem(&stats, &zero);
	__u64 len = msg->size;

	if (!st)
		return SK_DROP;
	if (guard && divert(msg)) {
		__sync_fetch_and_add(&st->passed, len);
		__sync_fetch_and_add(&st->pmsgs, 1);
		return SK_PASS;
	}
	if (bpf_msg_redirect_map(msg, &socks, 0, 0) != SK_PASS) {
		__sync_fetch_and_add(&st->dropped, 1);
		return SK_DROP;
	}
	__sync_fetch_and_add(&st->bytes, len);
	__sync_fetch_and_add(&st->skbs, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
