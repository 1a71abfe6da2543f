/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The receive memory of a socket inside a sandbox, which the node never holds: a streaming
 * action's server end, which takes its client's upload straight from sock_accel
 * (XW_ACCEL_F_INTO). The kernel answers sock_diag questions per network namespace, so the
 * question is asked on a netlink socket made inside the sandbox's.
 *
 *   fd = sandbox_sock_open(pid);   once per session (the sandbox's init process)
 *   sandbox_sock_rmem(fd, &key, &rmem, &rcvbuf);   as often as needed
 *   close(fd);
 *
 * Every function returns 0 (or an fd) or a negative errno.
 */
#ifndef XWHISK_NODE_INGRESS_SANDBOX_SOCK_H
#define XWHISK_NODE_INGRESS_SANDBOX_SOCK_H

#include <stdint.h>
#include <sys/types.h>

#include "xwhisk/sock_msg.h"

/* A NETLINK_SOCK_DIAG socket in pid's network namespace (the calling thread joins it for
 * the socket() call only). */
int sandbox_sock_open(pid_t pid);
/* The receive memory charged to the TCP socket whose own 4-tuple is k (network order, as
 * in msg_socks), and its receive buffer; -ENOENT when it is gone. */
int sandbox_sock_rmem(int fd, const struct xw_msg_key *k, uint32_t *rmem, uint32_t *rcvbuf);

#endif
