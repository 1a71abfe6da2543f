/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sock_msg_redirect from userspace: loads the sk_msg program against the pinned msg maps
 * (see xwhisk/sock_msg.h), attaches it to msg_socks, and adds connected TCP sockets by fd.
 * Once both ends of a connection are in, what either end sends lands on the other's
 * receive queue without crossing the TCP stack. Used by scripts/bench/skmsg_bench.c and
 * tests/bpf/test_bpf_sock_msg.c, and by the node with XWHISK_SOCK_MSG=1, which attaches
 * sockops_msg for its sandboxes' ends and adds its own.
 *
 *   xw_msg_open(pin_dir, &m); xw_msg_add(m, fd) for both ends; ...; xw_msg_remove(m, fd)
 *   (closing a socket removes it too); xw_msg_counters(m, st); xw_msg_close(m).
 * Every function returns 0 or a negative errno.
 */
#ifndef XWHISK_BPFLOAD_SOCK_MSG_H
#define XWHISK_BPFLOAD_SOCK_MSG_H

#include "xwhisk/sock_msg.h"

struct xw_msg;

int xw_msg_open(const char *pin_dir, struct xw_msg **out);
void xw_msg_close(struct xw_msg *m);
/* Attaches sockops_msg to the cgroup v2 directory given: from then on the server end of
 * every connection from peer to port on an address in net/prefix (addresses in host order)
 * enters msg_socks by itself. Detached by xw_msg_close(). */
int xw_msg_attach_sandboxes(struct xw_msg *m, const char *cgroup_v2, uint32_t net, int prefix,
			    uint32_t peer, uint16_t port);
/* Adds (or replaces) a connected IPv4 TCP socket under its own 4-tuple. */
int xw_msg_add(struct xw_msg *m, int fd);
int xw_msg_remove(struct xw_msg *m, int fd);
/* Whether the other end of fd's connection is in msg_into (a streaming action's server
 * end joins by itself, when it handles the handshake's last ACK): 0, or -ENOENT. Its key
 * is in peer either way. */
int xw_msg_peer_in(struct xw_msg *m, int fd, struct xw_msg_key *peer);
/* Sums msg_stats over the CPUs into out, indexed by enum xw_msg_verdict. */
int xw_msg_counters(struct xw_msg *m, struct xw_msg_stat out[XW_MSG__MAX]);

#endif
