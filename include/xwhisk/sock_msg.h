/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sock_msg_redirect: the maps an sk_msg redirect between two local TCP sockets shares with
 * userspace (userspace/bpfload/sock_msg.c). Both ends of a connection sit in msg_socks,
 * keyed by their own 4-tuple as each sees it; what one end sends is looked up by the
 * reversed 4-tuple, which is its peer's key, and put straight on the peer's receive queue:
 * no TCP segments, no veth, no softirq. The node uses it between its pooled connections
 * and its sandboxes' runtimes when XWHISK_SOCK_MSG=1 (docs/BENCHMARKS.md, "sk_msg on the
 * invoke path").
 */
#ifndef XWHISK_SOCK_MSG_H
#define XWHISK_SOCK_MSG_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Map names (at most 15 characters). */
#define XW_MAP_MSG_SOCKS "msg_socks"
#define XW_MAP_MSG_STATS "msg_stats"
#define XW_MAP_MSG_CFG "msg_cfg"
#define XW_MAP_MSG_INTO "msg_into"

/* sockets in msg_socks at once: both ends of the pooled /run connections, and the node's
 * end of each stream that goes into its sandbox (up to XW_ACCEL_MAX_PAIRS) */
#define XW_MSG_MAX_SOCKS 16384

/* msg_socks' key: a socket's own view of its connection, everything in network order. */
struct xw_msg_key {
	__u32 local_ip4;
	__u32 remote_ip4;
	__u16 local_port;
	__u16 remote_port;
};

/* msg_cfg's one entry: which passively established sockets sockops_msg puts in msg_socks,
 * a sandbox runtime's server end: its port (or port + XW_SANDBOX_RUN_PORT_OFFSET, a language
 * loop serving /run itself; in msg_into, port + XW_SANDBOX_STREAM_PORT_OFFSET, a streaming
 * action's server, which takes a client's upload from sock_accel), on an address in
 * net/mask, connected from peer
 * (the node's address on the sandboxes' bridge: other nodes' connections stay out).
 * Addresses in network order; port 0: none. */
struct xw_msg_cfg {
	__u32 net;
	__u32 mask;
	__u32 peer;
	__u16 port; /* host order */
	__u16 pad;
};

/* msg_stats' index. */
enum xw_msg_verdict {
	XW_MSG_REDIRECTED = 0, /* put on the peer's receive queue */
	XW_MSG_NO_PEER = 1,    /* the peer is in neither map: sent by TCP as usual */
	XW_MSG__MAX
};

/* msg_stats: per-CPU msgs and bytes by verdict. */
struct xw_msg_stat {
	__u64 msgs;
	__u64 bytes;
};

#ifdef __cplusplus
#define XW_MSG_STATIC_ASSERT static_assert
#else
#define XW_MSG_STATIC_ASSERT _Static_assert
#endif
XW_MSG_STATIC_ASSERT(sizeof(struct xw_msg_key) == 12, "xw_msg_key layout");
XW_MSG_STATIC_ASSERT(sizeof(struct xw_msg_stat) == 16, "xw_msg_stat layout");
XW_MSG_STATIC_ASSERT(sizeof(struct xw_msg_cfg) == 16, "xw_msg_cfg layout");

#endif
