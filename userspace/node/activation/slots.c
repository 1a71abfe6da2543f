// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include <bpf/bpf.h>

#include "loop.h"
#include "node/activation/slots.h"

#define CLAIM_ATTEMPTS 4
#define WARM_CACHE_ENTRIES 512

/* Bumped after every write of "warm" by this process (the only writer of its maps). */
static uint32_t warm_epoch = 1;

struct warm_cache {
	struct {
		uint64_t action_id;
		uint32_t epoch; /* 0: empty */
		bool listed;
		struct xw_warm warm;
	} e[WARM_CACHE_ENTRIES];
};

struct warm_cache *warm_cache_new(void)
{
	return calloc(1, sizeof(struct warm_cache));
}

void warm_cache_free(struct warm_cache *c)
{
	free(c);
}

void slot_warm_changed(void)
{
	__atomic_add_fetch(&warm_epoch, 1, __ATOMIC_RELEASE);
}

/* The action's warm entry, from the cache while this process has not changed the map. */
static bool warm_lookup(struct xw_maps *m, struct warm_cache *c, uint64_t action_id,
			struct xw_warm *out)
{
	uint32_t epoch = __atomic_load_n(&warm_epoch, __ATOMIC_ACQUIRE);
	unsigned i = (unsigned)(action_id ^ (action_id >> 32)) % WARM_CACHE_ENTRIES;

	if (c && c->e[i].epoch == epoch && c->e[i].action_id == action_id) {
		*out = c->e[i].warm;
		return c->e[i].listed;
	}
	if (bpf_map_lookup_elem(m->warm_fd, &action_id, out))
		out->count = 0;
	if (c) {
		c->e[i].action_id = action_id;
		c->e[i].epoch = epoch;
		c->e[i].listed = out->count > 0;
		c->e[i].warm = *out;
	}
	return out->count > 0;
}

int slot_claim(struct xw_maps *m, struct warm_cache *cache, uint64_t action_id, uint32_t *slot,
	       uint32_t *generation)
{
	struct xw_warm warm;

	if (!warm_lookup(m, cache, action_id, &warm))
		return -EAGAIN;
	if (warm.count > XW_WARM_MAX)
		warm.count = XW_WARM_MAX;
	for (int attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
		struct xw_slot *best = NULL;
		uint32_t best_load = UINT32_MAX, best_idx = 0;
		uint64_t best_rank = UINT64_MAX;

		for (uint32_t i = 0; i < warm.count; i++) {
			uint32_t idx = warm.slot[i];
			struct xw_slot *s;
			uint32_t load;
			uint64_t rank;

			if (idx >= XW_MAX_SLOTS)
				continue;
			s = &m->slots[idx];
			if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != XW_SLOT_WARM ||
			    s->action_id != action_id)
				continue;
			load = __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);
			/* This node's own sandboxes first (no extra hop), then the least loaded. */
			rank = (uint64_t)(s->node != 0) << 32 | load;
			if (load < s->concurrency && rank < best_rank) {
				best = s;
				best_load = load;
				best_idx = idx;
				best_rank = rank;
			}
		}
		if (!best)
			return -EAGAIN;
		if (!__atomic_compare_exchange_n(&best->inflight, &best_load, best_load + 1, false,
						 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			continue;
		if (__atomic_load_n(&best->state, __ATOMIC_SEQ_CST) != XW_SLOT_WARM) {
			slot_release(m, best_idx, false);
			continue;
		}
		__atomic_store_n(&best->last_used_ns, clock_mono_us() * 1000, __ATOMIC_RELAXED);
		__atomic_fetch_add(&best->invocations, 1, __ATOMIC_RELAXED);
		*slot = best_idx;
		*generation = __atomic_load_n(&best->generation, __ATOMIC_ACQUIRE);
		return 0;
	}
	return -EAGAIN;
}

void slot_release(struct xw_maps *m, uint32_t slot, bool failed)
{
	struct xw_slot *s = &m->slots[slot];
	uint32_t v = __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);

	/* Never below zero: a restarted node zeroes counts under activations still ending. */
	while (v && !__atomic_compare_exchange_n(&s->inflight, &v, v - 1, true, __ATOMIC_SEQ_CST,
						 __ATOMIC_RELAXED))
		;
	__atomic_store_n(&s->last_used_ns, clock_mono_us() * 1000, __ATOMIC_RELAXED);
	if (failed)
		__atomic_fetch_add(&s->errors, 1, __ATOMIC_RELAXED);
}

/* The action's warm sandboxes' room: all of it, or (unclaimed) what no activation of this
 * node holds in its own sandboxes; another node's count of what runs in its sandboxes is
 * not in this node's map, so their room is never counted as free. */
static unsigned warm_room(struct xw_maps *m, uint64_t action_id, bool unclaimed)
{
	struct xw_warm warm;
	unsigned room = 0;

	if (bpf_map_lookup_elem(m->warm_fd, &action_id, &warm))
		return 0;
	for (uint32_t i = 0; i < warm.count && i < XW_WARM_MAX; i++) {
		const struct xw_slot *s = &m->slots[warm.slot[i] % XW_MAX_SLOTS];
		uint32_t used;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != XW_SLOT_WARM ||
		    s->action_id != action_id)
			continue;
		if (unclaimed && s->node)
			continue;
		used = unclaimed ? __atomic_load_n(&s->inflight, __ATOMIC_RELAXED) : 0;
		room += used < s->concurrency ? s->concurrency - used : 0;
	}
	return room;
}

unsigned slot_warm_capacity(struct xw_maps *m, uint64_t action_id)
{
	return warm_room(m, action_id, false);
}

unsigned slot_warm_free(struct xw_maps *m, uint64_t action_id)
{
	return warm_room(m, action_id, true);
}

void slot_retire(struct xw_maps *m, uint32_t slot, uint32_t generation)
{
	struct xw_slot *s = &m->slots[slot];
	uint32_t warm = XW_SLOT_WARM;

	if (__atomic_load_n(&s->generation, __ATOMIC_ACQUIRE) == generation)
		(void)__atomic_compare_exchange_n(&s->state, &warm, XW_SLOT_DRAINING, false,
						  __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

int slot_warm_add(struct xw_maps *m, uint64_t action_id, uint32_t slot)
{
	struct xw_warm warm = { 0 };

	(void)bpf_map_lookup_elem(m->warm_fd, &action_id, &warm);
	for (uint32_t i = 0; i < warm.count && i < XW_WARM_MAX; i++)
		if (warm.slot[i] == slot)
			return 0;
	if (warm.count >= XW_WARM_MAX)
		return -ENOSPC;
	warm.slot[warm.count++] = slot;
	if (bpf_map_update_elem(m->warm_fd, &action_id, &warm, BPF_ANY))
		return -errno;
	slot_warm_changed();
	return 0;
}

int slot_warm_remove(struct xw_maps *m, uint64_t action_id, uint32_t slot)
{
	struct xw_warm warm;

	if (bpf_map_lookup_elem(m->warm_fd, &action_id, &warm))
		return 0;
	for (uint32_t i = 0; i < warm.count && i < XW_WARM_MAX; i++) {
		if (warm.slot[i] != slot)
			continue;
		warm.slot[i] = warm.slot[--warm.count];
		if (warm.count ? bpf_map_update_elem(m->warm_fd, &action_id, &warm, BPF_ANY)
			       : bpf_map_delete_elem(m->warm_fd, &action_id))
			return -errno;
		slot_warm_changed();
		return 0;
	}
	return 0;
}
