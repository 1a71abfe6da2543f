/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Claiming room in a warm sandbox, from any worker, without a lock or a system call
 * beyond one lookup in "warm": the least-loaded sandbox of the action whose in-flight count
 * is under its concurrency limit, taken by compare-and-swap on the memory-mapped slot.
 *
 * Against removal: the manager marks a slot DRAINING before it looks at in-flight, and a
 * claimer looks at the state again after its compare-and-swap (both sequentially
 * consistent), so either the claimer backs off or the manager sees the claim and waits.
 */
#ifndef XWHISK_SLOTS_H
#define XWHISK_SLOTS_H

#include <stdbool.h>
#include <stdint.h>

#include "pinned_maps.h"

/* A worker's copy of "warm" entries, so that a warm hit makes no system call at all: it is
 * refreshed from the map when this process changed the map since it was read. */
struct warm_cache;
struct warm_cache *warm_cache_new(void);
void warm_cache_free(struct warm_cache *c);

/* 0 with the slot and its generation, or -EAGAIN when no warm sandbox has room. cache: the
 * caller's, or NULL to read the map. */
int slot_claim(struct xw_maps *m, struct warm_cache *cache, uint64_t action_id, uint32_t *slot,
	       uint32_t *generation);
void slot_release(struct xw_maps *m, uint32_t slot, bool failed);
/* Room for activations in the action's warm sandboxes: the sum of their concurrency. */
unsigned slot_warm_capacity(struct xw_maps *m, uint64_t action_id);
/* The part of it in this node's own sandboxes that no activation holds right now. */
unsigned slot_warm_free(struct xw_maps *m, uint64_t action_id);
/* Takes a sandbox out of routing at once, before the manager removes it: no other
 * worker claims it in between. Only while the slot still holds that generation. */
void slot_retire(struct xw_maps *m, uint32_t slot, uint32_t generation);
/* For the manager: publish, list and unlist warm sandboxes of an action. */
int slot_warm_add(struct xw_maps *m, uint64_t action_id, uint32_t slot);
int slot_warm_remove(struct xw_maps *m, uint64_t action_id, uint32_t slot);
/* After "warm" was written some other way: the workers' copies are stale. */
void slot_warm_changed(void);

#endif
