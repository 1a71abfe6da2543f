/* SPDX-License-Identifier: Apache-2.0 */
/* Every xwhisk map, declared once and pinned by name: each BPF object that includes this
 * shares the same maps with xwhisk-node and the other objects. */
#ifndef XWHISK_BPF_MAPS_H
#define XWHISK_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "xwhisk/maps.h"
#include "xwhisk/sandbox_net.h"
#include "xwhisk/sock_accel.h"
#include "xwhisk/sock_msg.h"
#include "xwhisk/verdict.h"

/* Action metadata the router routes by. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XW_MAX_ACTIONS);
	__type(key, __u64);
	__type(value, struct xw_action);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} actions SEC(".maps");

/* Each action's warm sandboxes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XW_MAX_ACTIONS);
	__type(key, __u64);
	__type(value, struct xw_warm);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} warm SEC(".maps");

/* Sandboxes, claimed by compare-and-swap from a memory mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XW_MAX_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xw_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} slots SEC(".maps");

/* Namespace limits and throttle counters, from a memory mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, XW_MAX_NAMESPACES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct xw_namespace);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} namespaces SEC(".maps");

/* Authenticated credentials. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XW_AUTH_ENTRIES);
	__type(key, struct xw_auth_key);
	__type(value, struct xw_auth);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} auth SEC(".maps");

/* ---- xdp_guard and sockops_conns (include/xwhisk/guard.h) ---- */

/* Per-client token buckets for new connections and the block list the router fills. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XW_GUARD_ENTRIES);
	__type(key, struct xw_guard_key);
	__type(value, struct xw_guard_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard SEC(".maps");

/* The guard's limits (one entry), filled by the node. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xw_guard_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_cfg SEC(".maps");

/* Prefixes never blocked nor limited: the node's own addresses. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XW_GUARD_EXEMPT_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xw_guard_prefix);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_exempt SEC(".maps");

/* Open connections to the ingress port per client, counted exactly by sockops_conns. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XW_GUARD_CONN_ENTRIES);
	__type(key, struct xw_guard_key);
	__type(value, struct xw_guard_conns);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_conns SEC(".maps");

/* Which sockets sockops_conns counted, and for whom. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct xw_guard_sock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_socks SEC(".maps");

/* xdp_guard's verdicts per CPU, indexed by enum xw_drop_reason. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XW_DROP__MAX);
	__type(key, __u32);
	__type(value, struct xw_guard_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard_stats SEC(".maps");

/* ---- sandbox_tc (include/xwhisk/sandbox_net.h) ---- */

/* sandbox_tc: each sandbox's host-side veth (ifindex) -> its address and counters. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XW_SANDBOX_IFACES_MAX);
	__type(key, __u32);
	__type(value, struct xw_sandbox_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sandbox_ifaces SEC(".maps");

/* sandbox_tc: the node's policy for its sandboxes (one entry). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xw_sandbox_policy);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sandbox_policy SEC(".maps");

/* sandbox_tc: destinations the operator allows (port, then CIDR). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, XW_SANDBOX_ALLOW_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct xw_sandbox_allow_key);
	__type(value, struct xw_sandbox_allow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sandbox_allow SEC(".maps");

/* sandbox_tc: the node's own addresses, which no sandbox may reach but on the ingress. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XW_SANDBOX_HOSTS_MAX);
	__type(key, struct xw_sandbox_host_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sandbox_hosts SEC(".maps");

/* sandbox_tc: packets per verdict (enum xw_drop_reason; 0 = passed), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XW_SANDBOX_VERDICTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sandbox_verdict SEC(".maps");

/* ---- sock_accel (include/xwhisk/sock_accel.h) ---- */

/* Spliced sessions: the client's socket at 2k, the sandbox's at 2k+1. A u64 value, so a
 * lookup (bpftool map dump) shows each live socket's cookie. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2 * XW_ACCEL_MAX_PAIRS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u64));
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} accel_socks SEC(".maps");

/* sock_accel: socket cookie -> its peer's index and the bytes it redirected. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * XW_ACCEL_MAX_PAIRS);
	__type(key, __u64);
	__type(value, struct xw_accel_peer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} accel_peers SEC(".maps");

/* sock_accel: per index of accel_socks, the bytes the node forwarded by hand of those the
 * verdict held on that socket (xw_accel_peer.held): while the two differ, later bytes are
 * held too, so that none overtakes. Written by the node alone, through a memory mapping. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * XW_ACCEL_MAX_PAIRS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} accel_fwd SEC(".maps");

/* accel_answer: the sandbox's end of a spliced stream (its key in msg_into) -> the node's end. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, XW_ACCEL_MAX_PAIRS);
	__type(key, struct xw_msg_key);
	__type(value, struct xw_accel_answer);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} accel_answers SEC(".maps");

/* sock_accel: skbs and bytes per verdict (enum xw_drop_reason; 0 = redirected), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XW_DROP__MAX);
	__type(key, __u32);
	__type(value, struct xw_accel_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} accel_stats SEC(".maps");

/* ---- sock_msg_redirect (include/xwhisk/sock_msg.h) ---- */

/* Both ends of each accelerated connection, keyed by their own 4-tuple. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, XW_MSG_MAX_SOCKS);
	__type(key, struct xw_msg_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} msg_socks SEC(".maps");

/* Streaming actions' server ends (sockops_msg), the targets of their uploads: sock_accel's
 * XW_ACCEL_F_INTO and the node's request head. accel_answer (sk_msg) is attached here:
 * what these sockets send themselves (the answer) goes to the client's socket directly
 * when it may, else by TCP, for sock_accel to splice. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2 * XW_ACCEL_MAX_PAIRS);
	__type(key, struct xw_msg_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} msg_into SEC(".maps");

/* sock_msg_redirect: msgs and bytes per verdict (enum xw_msg_verdict), per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XW_MSG__MAX);
	__type(key, __u32);
	__type(value, struct xw_msg_stat);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} msg_stats SEC(".maps");

/* sockops_msg's filter: the sandbox runtime sockets it adds to msg_socks. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct xw_msg_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} msg_cfg SEC(".maps");

#endif
