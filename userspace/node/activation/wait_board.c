// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "node/activation/wait_board.h"
#include "node/node.h"

#define BUCKETS 256

struct waiting_action {
	uint64_t action_id;
	unsigned count;
	uint64_t oldest_us[NODE_MAX_WORKERS];
	struct waiting_action *next;
};

struct wait_board {
	pthread_mutex_t lock;
	unsigned total; /* all actions: read without the lock */
	struct waiting_action *buckets[BUCKETS];
};

struct wait_board *wait_board_new(void)
{
	struct wait_board *b = calloc(1, sizeof(*b));

	if (b)
		pthread_mutex_init(&b->lock, NULL);
	return b;
}

void wait_board_free(struct wait_board *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < BUCKETS; i++) {
		while (b->buckets[i]) {
			struct waiting_action *wa = b->buckets[i];

			b->buckets[i] = wa->next;
			free(wa);
		}
	}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* Under the lock. */
static struct waiting_action **slot_of(struct wait_board *b, uint64_t action_id)
{
	struct waiting_action **pp = &b->buckets[action_id % BUCKETS];

	while (*pp && (*pp)->action_id != action_id)
		pp = &(*pp)->next;
	return pp;
}

int wait_board_note(struct wait_board *b, uint64_t action_id, unsigned worker, int delta,
		    uint64_t oldest_us)
{
	struct waiting_action **pp, *wa;
	int err = 0;

	if (worker >= NODE_MAX_WORKERS)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	pp = slot_of(b, action_id);
	wa = *pp;
	if (!wa && delta > 0) {
		wa = calloc(1, sizeof(*wa));
		if (!wa) {
			err = -ENOMEM;
			goto out;
		}
		wa->action_id = action_id;
		*pp = wa;
	}
	if (!wa)
		goto out;
	if (delta < 0 && wa->count < (unsigned)-delta)
		delta = -(int)wa->count;
	wa->count += delta;
	__atomic_add_fetch(&b->total, delta, __ATOMIC_SEQ_CST);
	wa->oldest_us[worker] = oldest_us;
	if (!wa->count) {
		*pp = wa->next;
		free(wa);
	}
out:
	pthread_mutex_unlock(&b->lock);
	return err;
}

bool wait_board_any(struct wait_board *b)
{
	return __atomic_load_n(&b->total, __ATOMIC_SEQ_CST) != 0;
}

unsigned wait_board_count(struct wait_board *b, uint64_t action_id)
{
	unsigned n;

	if (!wait_board_any(b))
		return 0;
	pthread_mutex_lock(&b->lock);
	n = *slot_of(b, action_id) ? (*slot_of(b, action_id))->count : 0;
	pthread_mutex_unlock(&b->lock);
	return n;
}

int wait_board_oldest(struct wait_board *b, uint64_t action_id)
{
	struct waiting_action *wa;
	uint64_t oldest = UINT64_MAX;
	int who = -1;

	if (!wait_board_any(b))
		return -1;
	pthread_mutex_lock(&b->lock);
	wa = *slot_of(b, action_id);
	for (unsigned i = 0; wa && i < NODE_MAX_WORKERS; i++) {
		if (wa->oldest_us[i] && wa->oldest_us[i] < oldest) {
			oldest = wa->oldest_us[i];
			who = (int)i;
		}
	}
	pthread_mutex_unlock(&b->lock);
	return who;
}
