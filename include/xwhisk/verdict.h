/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One verdict convention for every xwhisk BPF program (Cilium's): a program's logic returns
 * XW_OK to let a packet pass, or the negative of a drop reason below; its single exit turns
 * that into the hook's return code and counts it in the program's per-CPU counter array,
 * indexed by reason (index 0 counts passes). Userspace names the reasons with
 * xw_drop_reason_name() for /metrics; bpftool prints the enum's names from BTF.
 */
#ifndef XWHISK_VERDICT_H
#define XWHISK_VERDICT_H

#define XW_OK 0

enum xw_drop_reason {
	XW_REASON_PASS = 0,       /* not a drop: the counter of packets passed */
	/* xdp_guard */
	XW_DROP_MALFORMED = 1,    /* a header is truncated or inconsistent */
	XW_DROP_SYN_RATE = 2,     /* the source's token bucket for new connections is empty */
	XW_DROP_CONN_LIMIT = 3,   /* the source holds as many connections as it may */
	XW_DROP_BLOCKED = 4,      /* the source is on the block list (until it expires) */
	XW_DROP_FRAGMENT = 5,     /* a non-first fragment to the ingress port */
	/* sandbox_tc */
	XW_DROP_SANDBOX_HOST = 6,   /* a sandbox to one of the node's addresses, not the ingress */
	XW_DROP_SANDBOX_PEER = 7,   /* a sandbox to another sandbox */
	XW_DROP_SANDBOX_EGRESS = 8, /* a sandbox to the outside world, not allowed by policy */
	XW_DROP_SANDBOX_SPOOF = 9,  /* a sandbox sending from an address that is not its own */
	XW_DROP_SANDBOX_PROTO = 10, /* a protocol the policy does not carry (not IP, ARP) */
	/* sock_accel */
	XW_DROP_ACCEL_UNPAIRED = 11, /* a socket in accel_socks without an accel_peers entry */
	XW_ACCEL_HELD = 12,          /* not a drop: the peer is not in the map yet, or earlier
				      * bytes are still held: the bytes stay on their socket
				      * for userspace to forward, in order */
	XW_ACCEL_INTO = 13,          /* not a drop: redirected into the receive queue of the
				      * sandbox's own socket (XW_ACCEL_F_INTO) */
	XW_ACCEL_FIN = 14,           /* not a drop of data: an empty skb, the peer's FIN alone,
				      * which no socket is to receive (the node passes an end on) */
	XW_ACCEL_FULL = 15,          /* not a drop: the peer's queue is full (a slow reader):
				      * the bytes stay on their socket, which closes its window */
	XW_ACCEL_OLD = 16,           /* not a drop of data: a retransmitted skb whose bytes were
				      * all taken already (bytes: these and the old fronts cut
				      * off other skbs) */
	XW_DROP_ACCEL_TRIM = 17,     /* a partly retransmitted skb whose old front could not
				      * be cut off */
	XW_ACCEL_MSG = 18,           /* not a drop: an answer the action's server wrote, sent
				      * by accel_answer (sk_msg) to the client's socket */
	XW_DROP__MAX
};

#ifndef __bpf__
static inline const char *xw_drop_reason_name(unsigned reason)
{
	static const char *const names[XW_DROP__MAX] = {
		[XW_REASON_PASS] = "pass",
		[XW_DROP_MALFORMED] = "malformed",
		[XW_DROP_SYN_RATE] = "syn_rate",
		[XW_DROP_CONN_LIMIT] = "conn_limit",
		[XW_DROP_BLOCKED] = "blocked",
		[XW_DROP_FRAGMENT] = "fragment",
		[XW_DROP_SANDBOX_HOST] = "host",
		[XW_DROP_SANDBOX_PEER] = "peer",
		[XW_DROP_SANDBOX_EGRESS] = "egress",
		[XW_DROP_SANDBOX_SPOOF] = "spoof",
		[XW_DROP_SANDBOX_PROTO] = "proto",
		[XW_DROP_ACCEL_UNPAIRED] = "unpaired",
		[XW_ACCEL_HELD] = "held",
		[XW_ACCEL_INTO] = "into",
		[XW_ACCEL_FIN] = "fin",
		[XW_ACCEL_FULL] = "full",
		[XW_ACCEL_OLD] = "old",
		[XW_DROP_ACCEL_TRIM] = "trim",
		[XW_ACCEL_MSG] = "msg",
	};

	return reason < XW_DROP__MAX && names[reason] ? names[reason] : "unknown";
}
#endif

#endif
