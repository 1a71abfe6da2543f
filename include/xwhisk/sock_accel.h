/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sock_accel: the maps a streaming web action's splice shares with userspace (the node's
 * loader in userspace/bpfload/sock_accel.c, used by userspace/node/ingress/stream.c).
 *
 * A session is a pair of TCP sockets in accel_socks: the client's at index 2k, the
 * sandbox's at 2k+1, so a socket's peer is its index ^ 1. accel_peers, keyed by socket
 * cookie, tells sock_accel where a socket's bytes go and counts them: the router reads the
 * counts for the session's record and never sees the bytes.
 *
 * A client's bytes may skip the node's socket and the veth altogether: with
 * XW_ACCEL_F_INTO its entry names the sandbox's own end of the connection, in msg_into
 * (xwhisk/sock_msg.h), and the verdict puts them straight on that socket's receive queue.
 */
#ifndef XWHISK_SOCK_ACCEL_H
#define XWHISK_SOCK_ACCEL_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "xwhisk/sock_msg.h"

/* Map names (at most 15 characters). */
#define XW_MAP_ACCEL_SOCKS "accel_socks"
#define XW_MAP_ACCEL_PEERS "accel_peers"
#define XW_MAP_ACCEL_STATS "accel_stats"
#define XW_MAP_ACCEL_FWD "accel_fwd"
#define XW_MAP_ACCEL_ANSWER "accel_answers"

#define XW_ACCEL_MAX_PAIRS 4096 /* spliced sessions at once on a node */
/* skbs the kernel may queue for a socket (its psock's backlog, uncharged memory) before
 * the verdict stops redirecting to it: the bound on what a slow reader costs the node. */
#define XW_ACCEL_QUEUE_MAX 256

/* accel_peers: socket cookie -> where its bytes go. */
struct xw_accel_peer {
	__u32 peer;   /* the other side's index in accel_socks */
	__u16 flags;  /* XW_ACCEL_F_* */
	__u16 status; /* the HTTP status of the response this socket received, 0: none */
	__u64 bytes;  /* bytes received on this socket (redirected or held) */
	/* With XW_ACCEL_F_INTO: the sandbox's end in msg_into, whose receive queue takes
	 * this socket's bytes directly. */
	struct xw_msg_key into;
	__u32 next_seq; /* with XW_ACCEL_F_SEQ: the TCP sequence after the last byte taken */
	__u64 held;	/* of bytes, those held on this socket for the node to forward */
};

/* accel_answers: the sandbox's end of a spliced stream (its key in msg_into) -> the cookie
 * of the node's end (its accel_peers entry). accel_answer, an sk_msg program on msg_into,
 * sends what the action's server writes straight to the egress of the client's socket
 * while that path cannot reorder bytes (docs/EBPF.md, "Answers by sk_msg"). */
struct xw_accel_answer {
	__u64 scookie;
};

/* Read the status code from the first bytes the socket receives ("HTTP/1.1 200 ..."):
 * the sandbox's side, so the record has the status without the router reading a byte. */
#define XW_ACCEL_F_STATUS 1
/* Redirect into the receive queue of the socket msg_into holds under `into`, not to the
 * egress of the peer's socket: one TCP stack, the veth and the bridge fewer per byte. The
 * node sets it only once everything it sent the sandbox itself went the same way (the
 * request head by sock_msg_redirect), so nothing sent by TCP can be overtaken. Without
 * that socket (it closed) the bytes go to the peer's egress as usual. */
#define XW_ACCEL_F_INTO 2
/* Set by the verdict once next_seq holds a sequence number. */
#define XW_ACCEL_F_SEQ 4

/* What accel_room (run by the node with bpf_prog_test_run_opts) is asked: the socket at
 * idx in accel_socks, or with into set the one msg_into holds under key. Its answer (the
 * run's retval) is the bytes the node may forward to it by hand now: 0 while the kernel
 * still queues bytes for it (they would be overtaken) or its receive memory is full,
 * XW_ACCEL_ROOM_ANY when a send of any size goes (TCP's own window bounds it). */
struct xw_accel_room_ask {
	__u32 idx;
	__u32 into;
	struct xw_msg_key key;
};
#define XW_ACCEL_ROOM_ANY (1u << 30)

/* accel_stats: per-CPU skbs by verdict, indexed by enum xw_drop_reason (0: redirected). */
struct xw_accel_stat {
	__u64 skbs;
	__u64 bytes;
};

#ifdef __cplusplus
#define XW_ACCEL_STATIC_ASSERT static_assert
#else
#define XW_ACCEL_STATIC_ASSERT _Static_assert
#endif
XW_ACCEL_STATIC_ASSERT(sizeof(struct xw_accel_peer) == 40, "xw_accel_peer layout");
XW_ACCEL_STATIC_ASSERT(sizeof(struct xw_accel_stat) == 16, "xw_accel_stat layout");
XW_ACCEL_STATIC_ASSERT(sizeof(struct xw_accel_room_ask) == 20, "xw_accel_room_ask layout");
XW_ACCEL_STATIC_ASSERT(sizeof(struct xw_accel_answer) == 8, "xw_accel_answer layout");

#endif
