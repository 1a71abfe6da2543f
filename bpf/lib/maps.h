/* SPDX-License-Identifier: Apache-2.0 */
/* Every xwhisk map, declared once and pinned by name: each BPF object that includes this
 * shares the same maps with xwhisk-node and the other objects. */
#ifndef XWHISK_BPF_MAPS_H
#define XWHISK_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "xwhisk/maps.h"

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

/* Per-client token buckets and blocks for xdp_guard. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, XW_GUARD_ENTRIES);
	__type(key, __u32);
	__type(value, struct xw_guard);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} guard SEC(".maps");

#endif
