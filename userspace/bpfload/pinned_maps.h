/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's pinned BPF maps: created on first start, re-adopted afterwards (so warm
 * sandboxes keep serving across a restart of xwhisk-node), with the memory-mappable ones
 * (slots, namespaces) mapped into the process for lock-free routing.
 */
#ifndef XWHISK_PINNED_MAPS_H
#define XWHISK_PINNED_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xwhisk/maps.h"

struct xw_maps {
	int actions_fd;
	int warm_fd;
	int slots_fd;
	int namespaces_fd;
	int auth_fd;
	int guard_fd;
	struct xw_slot *slots;           /* XW_MAX_SLOTS entries, shared with the kernel */
	struct xw_namespace *namespaces; /* XW_MAX_NAMESPACES entries */
	bool adopted;                    /* the maps were already pinned: state survived */
	char pin_dir[256];
	void *skel;
};

/* Mounts bpffs if needed, creates pin_dir and opens (or re-adopts) every map there. */
int xw_maps_open(const char *pin_dir, struct xw_maps **out);
/* Unmaps and closes; the pins (and so the state) stay. */
void xw_maps_close(struct xw_maps *m);
/* Removes the pins and the directory: the state is gone once no one holds the maps. */
int xw_maps_unpin(const char *pin_dir);
/* Mounts bpffs if needed and creates pin_dir. */
int xw_pin_dir_prepare(const char *pin_dir);
struct bpf_object;
/*
 * Before loading obj: a map pinned in pin_dir under the name of one of obj's maps, but
 * made by an incompatible build (type, key or value size, entries, flags differ), would
 * make the load fail. Those whose name starts with replace_prefix hold no state worth
 * keeping and are unpinned (with a warning) so the load makes them anew; the others are
 * left for the load to refuse. Returns how many were replaced.
 */
int xw_pins_replace_incompatible(struct bpf_object *obj, const char *pin_dir,
				 const char *replace_prefix);
/*
 * Every object declares all of xwhisk's maps (bpf/lib/maps.h); a loader owns only those
 * named with its prefix. The others are left as their owner made them (never created by
 * this load), and its own incompatible pins are replaced (see above).
 */
void xw_pins_own_only(struct bpf_object *obj, const char *pin_dir, const char *prefix);
/*
 * Sums a per-CPU map's values over the CPUs, for keys 0..nkeys-1. A value is value_size
 * bytes of __u64 counters, summed counter by counter into out[key * counters + i].
 */
int xw_percpu_sum(int fd, uint32_t nkeys, size_t value_size, uint64_t *out);
/* Routes libbpf's messages into our log (warnings demoted to debug). */
void xw_bpf_setup_logging(void);
/* Where the cgroup v2 hierarchy is mounted (its root): 0, or -ENOENT when nowhere. */
int xw_cgroup2_mount(char *out, size_t size);

#endif
