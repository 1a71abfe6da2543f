/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How a test that splices with sock_accel waits between calls of xw_accel_forward_held(),
 * as the node's stream.c does: a socket is watched readable while the bytes held on it
 * wait to be read (-EAGAIN), writable while the bytes held for it wait for room
 * (-ENOBUFS); a kernel queue still draining (-ENOSPC) wakes nobody, so the poll ends in a
 * millisecond.
 */
#ifndef XWHISK_TEST_HELD_WAIT_H
#define XWHISK_TEST_HELD_WAIT_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

/* from: what forwarding the bytes held on the socket returned; to: what forwarding the
 * bytes held for it returned (0 when nothing is forwarded to it). */
static inline short held_events(ssize_t from, ssize_t to)
{
	return (short)((from == -EAGAIN ? POLLIN : 0) | (to == -ENOBUFS ? POLLOUT : 0));
}

/* The poll's timeout after the forwards returned a and b: 1 ms on -ENOSPC, else idle_ms. */
static inline int held_wait_ms(ssize_t a, ssize_t b, int idle_ms)
{
	return a == -ENOSPC || b == -ENOSPC ? 1 : idle_ms;
}

/* Whether a forward failed for good (neither bytes, an end, nor a reason to wait). */
static inline bool held_failed(ssize_t n)
{
	return n < 0 && n != -EAGAIN && n != -ENOSPC && n != -ENOBUFS;
}

#endif
