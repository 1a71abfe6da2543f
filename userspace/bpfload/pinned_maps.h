/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's pinned BPF maps: created on first start, re-adopted afterwards (so warm
 * sandboxes keep serving across a restart of xwhisk-node), with the memory-mappable ones
 * (slots, namespaces) mapped into the process for lock-free routing.
 */
#ifndef XWHISK_PINNED_MAPS_H
#define XWHISK_PINNED_MAPS_H

#include <stdbool.h>

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
/* Routes libbpf's messages into our log (warnings demoted to debug). */
void xw_bpf_setup_logging(void);

#endif
