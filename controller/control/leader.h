/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leader election between controllers that share one truth: the one notion of "am I the
 * leader" whatever decides it (a Kubernetes Lease, lease.h; a PostgreSQL advisory lock,
 * pg_leader.h). Only the leader runs the allocator, the GC and node-loss detection; the
 * others serve the API on standby (allocations and heartbeats answer 503).
 *
 * A mechanism gives one blocking round (take or keep the leadership; true when this
 * controller leads after it), run on a thread of its own every period_ms. The loop polls:
 * on_elected runs when this controller becomes the leader; on_lost when no round has
 * succeeded for hold_ms (chosen shorter than the time others need to take over, so a
 * controller that may have lost stops acting before another starts).
 */
#ifndef XWHISK_LEADER_H
#define XWHISK_LEADER_H

#include <stdbool.h>

#include "loop.h"

struct leader_ops {
	/* One round; stop is set when the election ends (abort a long call). 1: this
	 * controller leads; 0: it does not know or does not lead (a leader keeps leading
	 * until hold_ms after its last won round); -1: it has certainly lost (its lock is
	 * gone): it stops leading at once. */
	int (*round)(void *impl, const volatile bool *stop);
	/* Gives up the leadership (if held) and frees impl, after the thread ended. */
	void (*free)(void *impl);
};

struct leader_config {
	const char *what;   /* for the log: "Lease xwhisk/ctl", "PostgreSQL advisory lock" */
	const char *identity;
	unsigned period_ms; /* between rounds */
	unsigned hold_ms;   /* the last successful round keeps us leading this long */
};

struct leader;

/* The first round runs before it returns (so a lone controller leads from its start);
 * impl is the leader's from then on, freed by leader_stop (or here on failure). */
struct leader *leader_start(struct loop *loop, const struct leader_config *cfg,
			    const struct leader_ops *ops, void *impl,
			    void (*on_elected)(void *data), void (*on_lost)(void *data), void *data);
void leader_stop(struct leader *l);

#endif
