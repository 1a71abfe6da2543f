/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's routing state: every BPF map's key and value, shared by the BPF programs
 * (bpf/) and userspace (userspace/bpfload, the router). Fixed-width types, explicit
 * padding and size asserts so both compilers agree. Maps are pinned by name under
 * XW_PIN_DIR and survive restarts of xwhisk-node.
 */
#ifndef XWHISK_MAPS_H
#define XWHISK_MAPS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "xwhisk/guard.h" /* guard and the other xdp_guard maps */

#define XW_PIN_DIR "/sys/fs/bpf/xwhisk"

/* Map names (at most 15 characters: the kernel's object name limit). */
#define XW_MAP_ACTIONS "actions"
#define XW_MAP_WARM "warm"
#define XW_MAP_SLOTS "slots"
#define XW_MAP_NAMESPACES "namespaces"
#define XW_MAP_AUTH "auth"
#define XW_MAP_GUARD "guard"

#define XW_MAX_ACTIONS 16384
#define XW_MAX_SLOTS 4096      /* sandboxes a node routes to, its own and others' */
#define XW_WARM_MAX 30         /* warm sandboxes listed per action */
#define XW_MAX_NAMESPACES 4096 /* index 0 is never used: it means "none" */
#define XW_AUTH_ENTRIES 16384

/* actions: action id (the first 8 bytes of SHA-256 of "subject|docid@revision") -> metadata. */
struct xw_action {
	__u64 revision;    /* the entity's revision: a router holding an older one refetches */
	__u32 ns_idx;      /* the owning namespace's index in "namespaces" */
	__u32 concurrency; /* activations one sandbox takes at once */
	__u32 memory_mb;
	__u32 timeout_ms;
	__u32 kind;        /* enum xw_kind */
	__u32 flags;       /* XW_ACTION_* */
};

enum xw_kind {
	XW_KIND_UNKNOWN = 0,
	XW_KIND_NODEJS,
	XW_KIND_PYTHON,
	XW_KIND_NATIVE,
	XW_KIND_BLACKBOX,
	XW_KIND_SEQUENCE,
};

#define XW_ACTION_WEB_EXPORT (1u << 0)

/* warm: action id -> the slots of its warm sandboxes. */
struct xw_warm {
	__u32 count;
	__u32 slot[XW_WARM_MAX];
	__u32 pad;
};

/* slots: slot id -> one sandbox. A memory-mappable array: routers claim a sandbox by a
 * compare-and-swap on inflight in the mapping, without a system call. */
struct xw_slot {
	__u32 state;       /* enum xw_slot_state */
	__u32 inflight;    /* activations running in the sandbox (router atomics) */
	__u32 concurrency; /* the action's limit, copied so routing reads one line */
	__u32 generation;  /* bumped each time the slot is given to another sandbox */
	__u64 action_id;
	__u8 addr[4];      /* IPv4, network byte order: bpftool prints the four bytes */
	__u16 port;        /* host byte order */
	__u16 node;        /* index of the node that runs it; 0 = this node */
	__u64 last_used_ns; /* CLOCK_MONOTONIC of the last claim */
	__u64 invocations;
	__u64 errors;
	__u32 pid;         /* the sandbox's init process on this node, 0 for others */
	__u32 pad;
};

enum xw_slot_state {
	XW_SLOT_FREE = 0,
	XW_SLOT_STARTING,
	XW_SLOT_WARM,
	XW_SLOT_DRAINING,
	XW_SLOT_REMOVED,
};

/* namespaces: namespace index -> limits and live counters. A memory-mappable array.
 * Per-minute counters pack the calendar minute (high 32 bits) and the count (low 32 bits)
 * into one word so a compare-and-swap rolls the window over atomically. The three limits
 * are what this node enforces: the namespace's own on a single node, the node's leased
 * share of them in a cluster (userspace/node/manager/budget_lease.c). A window counts
 * every request, rejected ones too (OpenWhisk's count); its *_rejected twin counts the
 * rejected, so what was admitted (count - rejected) is what a share limits. */
struct xw_namespace {
	__u32 invocations_per_minute;
	__u32 concurrent_invocations;
	__u32 fires_per_minute;
	__u32 inflight;          /* activations in flight (router atomics) */
	__u64 invocation_window; /* minute << 32 | count */
	__u64 fire_window;       /* minute << 32 | count */
	__u64 throttled;         /* requests answered 429 */
	__u32 generation;        /* bumped when the index is given to another namespace */
	__u32 flags;             /* XW_NS_* */
	__u64 invocation_rejected; /* minute << 32 | rejected of invocation_window */
	__u64 fire_rejected;       /* minute << 32 | rejected of fire_window */
};

#define XW_NS_IN_USE (1u << 0)

/* auth: SHA-256 of "uuid:key" -> namespace, with an expiry (LRU). */
struct xw_auth_key {
	__u8 digest[32];
};

struct xw_auth {
	__u32 ns_idx;
	__u32 generation; /* the namespace slot's generation when cached */
	__u64 expires_ns; /* CLOCK_MONOTONIC */
};

#ifdef __cplusplus
#define XW_STATIC_ASSERT static_assert
#else
#define XW_STATIC_ASSERT _Static_assert
#endif
XW_STATIC_ASSERT(sizeof(struct xw_action) == 32, "xw_action layout");
XW_STATIC_ASSERT(sizeof(struct xw_warm) == 128, "xw_warm layout");
XW_STATIC_ASSERT(sizeof(struct xw_slot) == 64, "xw_slot layout");
XW_STATIC_ASSERT(sizeof(struct xw_namespace) == 64, "xw_namespace layout");
XW_STATIC_ASSERT(sizeof(struct xw_auth) == 16, "xw_auth layout");

#endif
