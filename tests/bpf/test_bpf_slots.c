// SPDX-License-Identifier: Apache-2.0
/* Claiming warm sandboxes from the pinned maps: least loaded first, never beyond an
 * action's concurrency even with threads racing, and never a draining sandbox. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "pinned_maps.h"
#include "node/activation/slots.h"
#include "../unit/test.h"

static char pin_dir[128];
static struct xw_maps *m;

static void warm_slot(uint32_t slot, uint64_t action, uint32_t concurrency)
{
	memset(&m->slots[slot], 0, sizeof(m->slots[slot]));
	m->slots[slot].action_id = action;
	m->slots[slot].concurrency = concurrency;
	m->slots[slot].generation = 1;
	m->slots[slot].state = XW_SLOT_WARM;
	(void)slot_warm_add(m, action, slot);
}

static void test_least_loaded(void)
{
	uint32_t slot, gen;

	warm_slot(10, 0xa1, 2);
	warm_slot(11, 0xa1, 2);
	m->slots[10].inflight = 1;
	CHECK(slot_claim(m, NULL, 0xa1, &slot, &gen) == 0 && slot == 11 && gen == 1);
	CHECK(slot_claim(m, NULL, 0xa1, &slot, &gen) == 0); /* both at 1 now: either */
	CHECK(slot_claim(m, NULL, 0xa1, &slot, &gen) == 0);
	CHECK(slot_claim(m, NULL, 0xa1, &slot, &gen) == -EAGAIN);
	CHECK(m->slots[10].inflight == 2 && m->slots[11].inflight == 2);
	slot_release(m, 10, true);
	CHECK(m->slots[10].inflight == 1 && m->slots[10].errors == 1);
	CHECK(slot_claim(m, NULL, 0xa1, &slot, &gen) == 0 && slot == 10);
	CHECK(slot_claim(m, NULL, 0xdead, &slot, &gen) == -EAGAIN);
}

static void test_draining_is_skipped(void)
{
	uint32_t slot, gen;

	warm_slot(20, 0xb2, 1);
	m->slots[20].state = XW_SLOT_DRAINING;
	CHECK(slot_claim(m, NULL, 0xb2, &slot, &gen) == -EAGAIN);
	CHECK(m->slots[20].inflight == 0);
	CHECK(slot_warm_remove(m, 0xb2, 20) == 0);
	m->slots[20].state = XW_SLOT_WARM;
	CHECK(slot_claim(m, NULL, 0xb2, &slot, &gen) == -EAGAIN); /* no longer listed */
}

/* A worker's copy of "warm": used while this process has not written the map since. */
static void test_warm_cache(void)
{
	struct warm_cache *c = warm_cache_new();
	uint64_t action = 0xe5;
	uint32_t slot, gen;

	ASSERT(c);
	CHECK(slot_claim(m, c, action, &slot, &gen) == -EAGAIN); /* a miss, cached */
	warm_slot(50, action, 4);                                 /* bumps the epoch */
	CHECK(slot_claim(m, c, action, &slot, &gen) == 0 && slot == 50);
	/* Written behind the cache's back: the copy still answers ... */
	CHECK(bpf_map_delete_elem(m->warm_fd, &action) == 0);
	CHECK(slot_claim(m, c, action, &slot, &gen) == 0 && slot == 50);
	CHECK(slot_claim(m, NULL, action, &slot, &gen) == -EAGAIN);
	/* ... until the writer says it changed the map. */
	slot_warm_changed();
	CHECK(slot_claim(m, c, action, &slot, &gen) == -EAGAIN);
	warm_cache_free(c);
}

/* This node's own sandbox before another node's, even when the other is less loaded. */
static void test_own_first(void)
{
	uint32_t slot, gen;

	warm_slot(40, 0xd4, 4);
	warm_slot(41, 0xd4, 4);
	m->slots[40].node = 2;
	m->slots[41].inflight = 2;
	CHECK(slot_claim(m, NULL, 0xd4, &slot, &gen) == 0 && slot == 41);
	m->slots[41].inflight = 4; /* full: the remote one then */
	CHECK(slot_claim(m, NULL, 0xd4, &slot, &gen) == 0 && slot == 40);
}

/* A sandbox that failed its activation is out of routing before its slot is released,
 * and only while the slot still holds that sandbox (found by dp_invoke's developer-error
 * case: the next request went to the dying sandbox). */
static void test_retired_is_skipped(void)
{
	uint32_t slot, gen;

	warm_slot(25, 0xb3, 2);
	CHECK(slot_claim(m, NULL, 0xb3, &slot, &gen) == 0 && slot == 25);
	slot_retire(m, slot, gen);
	slot_release(m, slot, true);
	CHECK(m->slots[25].state == XW_SLOT_DRAINING);
	CHECK(slot_claim(m, NULL, 0xb3, &slot, &gen) == -EAGAIN);
	warm_slot(26, 0xb4, 1);
	m->slots[26].generation = 2; /* given to another sandbox meanwhile */
	slot_retire(m, 26, 1);
	CHECK(m->slots[26].state == XW_SLOT_WARM);
}

#define THREADS 8
#define ROUNDS 20000

/* More threads than the one slot's two places: claims must collide and be refused. */
static int held, most_held, refused;

static void *hammer(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		uint32_t slot, gen;
		int now;

		if (slot_claim(m, NULL, 0xc3, &slot, &gen)) {
			__atomic_fetch_add(&refused, 1, __ATOMIC_RELAXED);
			continue;
		}
		/* Counted by the holders themselves, not read back from the slot being tested. */
		now = __atomic_add_fetch(&held, 1, __ATOMIC_SEQ_CST);
		for (int seen = __atomic_load_n(&most_held, __ATOMIC_RELAXED);
		     now > seen && !__atomic_compare_exchange_n(&most_held, &seen, now, false,
								 __ATOMIC_RELAXED, __ATOMIC_RELAXED);)
			;
		/* Held across a yield: the others run meanwhile, so they compete for the slot
		 * even when the machine gives these threads one CPU at a time. */
		if (i % 16 == 0)
			sched_yield();
		__atomic_sub_fetch(&held, 1, __ATOMIC_SEQ_CST);
		slot_release(m, slot, false);
	}
	return NULL;
}

static void test_racing_claims_respect_concurrency(void)
{
	pthread_t t[THREADS];

	warm_slot(30, 0xc3, 2);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	CHECK(most_held >= 1 && most_held <= 2);
	CHECK(refused > 0); /* they did compete */
	CHECK(m->slots[30].inflight == 0);
	CHECK(m->slots[30].invocations + (uint64_t)refused == (uint64_t)THREADS * ROUNDS);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("not ok - the BPF tests need root\n");
		return 1;
	}
	xw_bpf_setup_logging();
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-slots-%d", getpid());
	if (xw_maps_open(pin_dir, &m)) {
		printf("not ok - open maps\n");
		return 1;
	}
	RUN(test_least_loaded);
	RUN(test_warm_cache);
	RUN(test_draining_is_skipped);
	RUN(test_retired_is_skipped);
	RUN(test_own_first);
	RUN(test_racing_claims_respect_concurrency);
	xw_maps_close(m);
	(void)xw_maps_unpin(pin_dir);
	TEST_EXIT();
}
