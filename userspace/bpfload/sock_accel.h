/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sock_accel from userspace: loads the sk_skb stream verdict program against the pinned
 * accel maps (see xwhisk/sock_accel.h) and attaches it to accel_socks, then splices pairs
 * of connected TCP sockets: what one receives the kernel sends out of the other.
 *
 * What the node does:
 *   start:   xw_accel_open(pin_dir, answers, &a); on error the caller relays in userspace
 *            instead (and says so once). answers: also load accel_answer (false: answers
 *            go by TCP and the verdict, as where the verifier refuses that program).
 *   session: xw_accel_pair_get(a, &k); xw_accel_add(a, 2k + 1, sandbox_fd, ..., &cs)
 *            first, write the request head to the sandbox, then xw_accel_add(a, 2k,
 *            client_fd, ..., &cc). Bytes the verdict held on a socket (its peer not in the
 *            map yet, or behind) go by hand: xw_accel_forward_held() whenever the socket is
 *            readable, the other writable, or a moment after it found no room. At the end
 *            xw_accel_remove() each side (which gives its byte count) and
 *            xw_accel_pair_put(a, k).
 *   metrics: xw_accel_counters().
 *   stop:    xw_accel_close(a): the program is detached when the last socket leaves.
 * Thread-safe after open. Every function returns 0 or a negative errno and logs at debug
 * level only.
 */
#ifndef XWHISK_BPFLOAD_SOCK_ACCEL_H
#define XWHISK_BPFLOAD_SOCK_ACCEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "xwhisk/sock_accel.h"
#include "xwhisk/verdict.h"

struct xw_accel;

int xw_accel_open(const char *pin_dir, bool answers, struct xw_accel **out);
void xw_accel_close(struct xw_accel *a);
/* A free pair number k (indexes 2k and 2k + 1); -ENOSPC when every pair is in use. */
int xw_accel_pair_get(struct xw_accel *a, uint32_t *k);
void xw_accel_pair_put(struct xw_accel *a, uint32_t k);
/* Puts fd (a connected TCP socket) at idx, its bytes going to idx ^ 1, with XW_ACCEL_F_*
 * flags; its cookie out. With into (a key of msg_socks: the sandbox's own end, see
 * xw_msg_peer_in()), its bytes go into that socket's receive queue instead
 * (XW_ACCEL_F_INTO), and to idx ^ 1 only once it is gone. */
int xw_accel_add(struct xw_accel *a, uint32_t idx, int fd, uint16_t flags,
		 const struct xw_msg_key *into, uint64_t *cookie);
/* Takes the socket out (if it is still in) and its entry, which *last receives. */
int xw_accel_remove(struct xw_accel *a, uint32_t idx, uint64_t cookie, struct xw_accel_peer *last);
/* The answer of the sandbox's end sandbox_end (its key in msg_into) goes straight to the
 * client's socket while it may (accel_answer), counted in the entry of the node's end
 * (scookie); -EOPNOTSUPP without the program. Delete before the sockets leave. */
int xw_accel_answer_set(struct xw_accel *a, const struct xw_msg_key *sandbox_end,
			uint64_t scookie);
void xw_accel_answer_del(struct xw_accel *a, const struct xw_msg_key *sandbox_end);
/* The entry of the socket with this cookie: its byte count and status so far. */
int xw_accel_peer_get(struct xw_accel *a, uint64_t cookie, struct xw_accel_peer *out);
/* Bytes ever queued on TCP socket fd: acknowledged plus still in its send queue. Taken
 * before a splice, it is the base xw_accel_delivered() counts from. */
int xw_accel_tcp_queued(int fd, uint64_t *out);
/* Whether every byte the socket with this cookie received (redirected by the verdict,
 * asynchronously) has reached to_fd's send queue, to_fd having had to_queued0 queued
 * before the splice: 1 yes, 0 not yet, a negative errno when either cannot be read. */
int xw_accel_delivered(struct xw_accel *a, uint64_t cookie, int to_fd, uint64_t to_queued0);
/*
 * Held bytes (a peer absent or behind: the verdict keeps them on their socket, in order)
 * go by hand, with xw_accel_forward_held(): it asks accel_room how many the other side
 * takes now (0 while the kernel still queues bytes for it; into a sandbox's socket, what
 * its receive buffer has left), reads at most that many, sends them and adds what went
 * out to accel_fwd: until every held byte is sent on, later ones are held too.
 */
/* Held bytes read and not all sent yet: buf (cap bytes, the caller's), off of len sent. */
struct xw_accel_held {
	char *buf;
	size_t cap, off, len;
};

/* All of the above once: the bytes moved from `from` (at from_idx) to `to` (at to_idx,
 * or with into the sandbox end behind it), or 0 at from's end, -EAGAIN when nothing is
 * held, -ENOSPC when the other side has no room yet (try again in a moment), -ENOBUFS
 * when `to` is full (wait until it is writable), or another negative errno. */
ssize_t xw_accel_forward_held(struct xw_accel *a, int from, uint32_t from_idx, int to,
			      uint32_t to_idx, const struct xw_msg_key *into,
			      struct xw_accel_held *h);
/* The loaded program (for tests: bpf_prog_test_run_opts). */
int xw_accel_prog_fd(struct xw_accel *a);
/* skbs and bytes per verdict, summed over CPUs. */
int xw_accel_counters(struct xw_accel *a, struct xw_accel_stat out[XW_DROP__MAX]);

#endif
