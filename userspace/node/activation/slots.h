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

/* 0 with the slot and its generation, or -EAGAIN when no warm sandbox has room. */
int slot_claim(struct xw_maps *m, uint64_t action_id, uint32_t *slot, uint32_t *generation);
void slot_release(struct xw_maps *m, uint32_t slot, bool failed);
/* Takes a sandbox out of routing at once, before the manager removes it: no other
 * worker claims it in between. Only while the slot still holds that generation. */
void slot_retire(struct xw_maps *m, uint32_t slot, uint32_t generation);
/* For the manager: publish, list and unlist warm sandboxes of an action. */
int slot_warm_add(struct xw_maps *m, uint64_t action_id, uint32_t slot);
int slot_warm_remove(struct xw_maps *m, uint64_t action_id, uint32_t slot);

#endif
