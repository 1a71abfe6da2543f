/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xdp_guard and sockops_conns: the maps they share with userspace (the node's loader in
 * userspace/bpfload/guard.c and the router that fills the block list). Every address is a
 * 16-byte array, IPv4 as v4-mapped IPv6 (::ffff:a.b.c.d), so one key serves both families
 * and `bpftool map dump` prints the address's bytes rather than an integer.
 * Times are CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns()).
 */
#ifndef XWHISK_GUARD_H
#define XWHISK_GUARD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Map names (at most 15 characters). "guard" itself is named in maps.h. */
#define XW_MAP_GUARD_CFG "guard_cfg"
#define XW_MAP_GUARD_EXEMPT "guard_exempt"
#define XW_MAP_GUARD_CONNS "guard_conns"
#define XW_MAP_GUARD_STATS "guard_stats"
#define XW_MAP_GUARD_SOCKS "guard_socks"

#define XW_GUARD_ENTRIES 65536        /* sources with a token bucket or a block (LRU) */
#define XW_GUARD_CONN_ENTRIES 65536   /* sources with open connections */
#define XW_GUARD_EXEMPT_ENTRIES 1024  /* exempt prefixes (the node's own addresses) */

/* A client address: IPv6, or IPv4 as ::ffff:a.b.c.d, network byte order. */
struct xw_guard_key {
	__u8 addr[16];
};

/* guard: client address -> token bucket for new connections and block (LRU). */
struct xw_guard_entry {
	__u64 tokens_milli;     /* tokens x 1000 at last_ns */
	__u64 last_ns;          /* last refill */
	__u64 blocked_until_ns; /* every packet to the ingress port is dropped until then */
	__u64 dropped;          /* packets of this source dropped (any reason) */
};

/* guard_cfg: one entry (key 0), filled by the node; read on every packet, so the limits
 * change without reloading the program. port 0 disables the guard (everything passes). */
struct xw_guard_cfg {
	__u16 port;      /* the ingress TCP port, host byte order */
	__u16 pad;
	__u32 flags;     /* XW_GUARD_F_* */
	__u32 syn_rate;  /* new connections per second per source; 0: no bucket */
	__u32 syn_burst; /* bucket size; 0: syn_rate */
	__u32 max_conns; /* open connections per source; 0: no cap */
	__u32 pad2;
};

/* Pass non-first TCP fragments (by default they are dropped: their port is unknown and a
 * TCP stack never fragments a segment it can size by path MTU discovery). */
#define XW_GUARD_F_PASS_FRAGMENTS (1u << 0)

/* guard_exempt: LPM trie of prefixes never blocked nor limited (the node's own
 * addresses). prefixlen counts bits of addr; an IPv4 /n is 96 + n. */
struct xw_guard_prefix {
	__u32 prefixlen;
	__u8 addr[16];
};

/* guard_conns: client address -> connections to the ingress port now open (sockops).
 * Signed so that a count that ever went below zero (an entry evicted and re-created while
 * sockets were open) never reads as a huge number that would lock the source out. */
struct xw_guard_conns {
	__s32 open;
	__u32 pad;
};

/* guard_socks: socket local storage marking a connection sockops_conns counted, and
 * under which source, so exactly that count is given back when it closes. */
struct xw_guard_sock {
	struct xw_guard_key src;
};

/* guard_stats: per-CPU packets by verdict, indexed by enum xw_drop_reason (0: passed). */
struct xw_guard_stat {
	__u64 packets;
};

#ifdef __cplusplus
#define XW_GUARD_STATIC_ASSERT static_assert
#else
#define XW_GUARD_STATIC_ASSERT _Static_assert
#endif
XW_GUARD_STATIC_ASSERT(sizeof(struct xw_guard_key) == 16, "xw_guard_key layout");
XW_GUARD_STATIC_ASSERT(sizeof(struct xw_guard_entry) == 32, "xw_guard_entry layout");
XW_GUARD_STATIC_ASSERT(sizeof(struct xw_guard_cfg) == 24, "xw_guard_cfg layout");
XW_GUARD_STATIC_ASSERT(sizeof(struct xw_guard_prefix) == 20, "xw_guard_prefix layout");
XW_GUARD_STATIC_ASSERT(sizeof(struct xw_guard_conns) == 8, "xw_guard_conns layout");
XW_GUARD_STATIC_ASSERT(sizeof(struct xw_guard_sock) == 16, "xw_guard_sock layout");
XW_GUARD_STATIC_ASSERT(sizeof(struct xw_guard_stat) == 8, "xw_guard_stat layout");

#endif
