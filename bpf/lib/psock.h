/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the kernel holds for a socket in a sockmap, read through its psock (sk_user_data,
 * tagged in its low bits): sock_accel's verdict and accel_room decide by it. The psock is
 * read-only here (bpf_rdonly_cast): a field that cannot be read reads as 0.
 */
#ifndef XWHISK_BPF_PSOCK_H
#define XWHISK_BPF_PSOCK_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

#define XW_SK_USER_DATA_PTRMASK (~7UL) /* SK_USER_DATA_NOCOPY | _BPF | _PSOCK */

struct xw_psock_state {
	__u32 queued;	 /* skbs redirected to it, not yet sent or received (ingress_skb) */
	int rmem, rcvbuf; /* its receive memory and its limit */
};

/* The psock of a TCP socket in a sockmap, read-only; NULL without one. */
static __always_inline struct sk_psock *xw_psock_of(struct tcp_sock *tp)
{
	return bpf_rdonly_cast((void *)((unsigned long)tp->inet_conn.icsk_inet.sk.sk_user_data &
					XW_SK_USER_DATA_PTRMASK),
			       bpf_core_type_id_kernel(struct sk_psock));
}

/* s: a socket from a sockmap lookup (the caller releases it). */
static __always_inline void xw_psock_state(struct bpf_sock *s, struct xw_psock_state *st)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(s);
	struct sk_psock *ps;

	*st = (struct xw_psock_state){0};
	if (!tp)
		return;
	st->rmem = tp->inet_conn.icsk_inet.sk.sk_backlog.rmem_alloc.counter;
	st->rcvbuf = tp->inet_conn.icsk_inet.sk.sk_rcvbuf;
	ps = xw_psock_of(tp);
	if (!ps)
		return;
	st->queued = ps->ingress_skb.qlen;
}

#endif
