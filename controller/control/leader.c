// SPDX-License-Identifier: Apache-2.0
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "leader.h"
#include "log.h"

#define POLL_MS 100

struct leader {
	struct loop *loop;
	struct leader_config cfg;
	char what[128], identity[128];
	const struct leader_ops *ops;
	void *impl;
	void (*on_elected)(void *data), (*on_lost)(void *data);
	void *data;
	pthread_t thread;
	bool thread_up;
	volatile bool stop;
	bool leading;     /* written by the thread, read by the loop (atomics) */
	uint64_t won_ms;  /* monotonic ms of the last successful round (atomics) */
	bool told;        /* the loop has run on_elected */
	struct loop_timer *poll;
};

/* Won a round recently enough that no other controller can have taken over. Read by the
 * loop too: a round stuck on a silent server must not keep a leader leading. */
static bool won_lately(struct leader *l)
{
	return __atomic_load_n(&l->leading, __ATOMIC_ACQUIRE) &&
	       clock_mono_ms() - __atomic_load_n(&l->won_ms, __ATOMIC_ACQUIRE) <= l->cfg.hold_ms;
}

static void round_once(struct leader *l)
{
	int won = l->ops->round(l->impl, &l->stop);

	if (won > 0) {
		__atomic_store_n(&l->won_ms, clock_mono_ms(), __ATOMIC_RELEASE);
		__atomic_store_n(&l->leading, true, __ATOMIC_RELEASE);
	} else if (won < 0 || !won_lately(l)) {
		/* others may take over soon: stop acting as the leader now */
		__atomic_store_n(&l->leading, false, __ATOMIC_RELEASE);
	}
}

static void *leader_main(void *arg)
{
	struct leader *l = arg;

	while (!l->stop) {
		for (unsigned t = 0; t < l->cfg.period_ms && !l->stop; t += 50) {
			struct timespec ts = { 0, 50 * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (!l->stop)
			round_once(l);
	}
	return NULL;
}

static void on_poll(struct loop *loop, void *data)
{
	struct leader *l = data;
	bool leading = won_lately(l);

	l->poll = NULL;
	if (leading && !l->told) {
		l->told = true;
		pr_info("leader: %s is the leader (%s)", l->identity, l->what);
		l->on_elected(l->data);
	} else if (!leading && l->told) {
		pr_err("leader: %s lost the %s: no longer the leader", l->identity, l->what);
		l->told = false;
		l->on_lost(l->data);
	}
	l->poll = loop_timer_add(loop, POLL_MS, on_poll, l);
}

struct leader *leader_start(struct loop *loop, const struct leader_config *cfg,
			    const struct leader_ops *ops, void *impl,
			    void (*on_elected)(void *data), void (*on_lost)(void *data), void *data)
{
	struct leader *l = calloc(1, sizeof(*l));
	sigset_t all, old;

	if (!l) {
		ops->free(impl);
		return NULL;
	}
	l->loop = loop;
	l->cfg = *cfg;
	snprintf(l->what, sizeof(l->what), "%s", cfg->what);
	snprintf(l->identity, sizeof(l->identity), "%s", cfg->identity);
	l->ops = ops;
	l->impl = impl;
	l->on_elected = on_elected;
	l->on_lost = on_lost;
	l->data = data;
	pr_info("leader: %s runs for the %s", l->identity, l->what);
	round_once(l);
	/* (no signals on the thread: they are the loop's) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	l->thread_up = !pthread_create(&l->thread, NULL, leader_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!l->thread_up) {
		leader_stop(l);
		return NULL;
	}
	on_poll(loop, l);
	return l;
}

void leader_stop(struct leader *l)
{
	if (!l)
		return;
	l->stop = true;
	if (l->thread_up)
		pthread_join(l->thread, NULL);
	loop_timer_cancel(l->loop, l->poll);
	l->ops->free(l->impl);
	free(l);
}
