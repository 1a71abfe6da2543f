// SPDX-License-Identifier: Apache-2.0
#include "node/activation/run_times.h"
#include "node/activation/action_cache.h"

static uint32_t clamp_us(uint64_t us)
{
	return us > UINT32_MAX ? UINT32_MAX : us ? (uint32_t)us : 1;
}

static void average_into(uint32_t *avg, uint64_t sample)
{
	uint32_t old = __atomic_load_n(avg, __ATOMIC_RELAXED);

	__atomic_store_n(avg, clamp_us(old ? (old * 7ull + sample) / 8 : sample), __ATOMIC_RELAXED);
}

/* Taken as a sample, a Node.js no-op's first run (several times a warm one's) made a
 * burst of 16 clients start 15 sandboxes where the one it had kept up (BENCHMARKS.md). */
void run_times_run(struct action_entry *a, bool first, uint64_t us)
{
	if (first) {
		if (!__atomic_load_n(&a->run_us, __ATOMIC_RELAXED)) {
			__atomic_store_n(&a->run_us_first, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&a->run_us, clamp_us(us), __ATOMIC_RELAXED);
		}
		return;
	}
	/* A plain load first: every warm run passes here, on every worker. */
	if (__atomic_load_n(&a->run_us_first, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&a->run_us_first, 0, __ATOMIC_RELAXED))
		__atomic_store_n(&a->run_us, clamp_us(us), __ATOMIC_RELAXED);
	else
		average_into(&a->run_us, us);
}

void run_times_start(struct action_entry *a, uint64_t us)
{
	average_into(&a->cold_us, us);
}

uint64_t run_times_cold_us(const struct action_entry *a)
{
	return __atomic_load_n(&a->cold_us, __ATOMIC_RELAXED) ?: RUN_TIMES_COLD_GUESS_US;
}

/* The node-wide count, not this worker's share of the room: one worker often holds the
 * whole queue (its clients came first), and a share of the room cut what it saw served
 * in half. */
unsigned run_times_starts_needed(const struct action_entry *a, uint64_t room,
				 unsigned waiting_here, unsigned waiting_all)
{
	uint64_t run_us = __atomic_load_n(&a->run_us, __ATOMIC_RELAXED);
	uint64_t served, short_of;
	unsigned needed;

	if (!run_us || !waiting_here)
		return waiting_here;
	if (waiting_all < waiting_here)
		waiting_all = waiting_here; /* the board lags this worker's own queue */
	served = room * run_times_cold_us(a) / run_us;
	short_of = waiting_all > served ? waiting_all - served : 0;
	/* This worker's part, rounded up: the manager adds the workers' asks. */
	needed = (unsigned)((short_of * waiting_here + waiting_all - 1) / waiting_all);
	/* A first run's time says little: one start, and the rule decides again with a
	 * warm run's (at that start's news, or when the first in line is overdue). */
	if (needed > 1 && __atomic_load_n(&a->run_us_first, __ATOMIC_RELAXED))
		needed = 1;
	return needed;
}
