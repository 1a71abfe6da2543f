/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leader election between controllers on one PostgreSQL database: the leader holds a
 * session advisory lock (pg_try_advisory_lock) on a connection of its own. The lock
 * lives as long as that session: a controller killed or cut off loses it with its
 * connection (at once when the kernel closes the socket, within about 10 s when the
 * server must notice a silence). The leader stops leading at once when its session
 * fails (the session, and so the lock, is gone), and when it cannot reach the server for
 * 3 s (leader.h), before the server can hand the lock to another.
 */
#ifndef XWHISK_PG_LEADER_H
#define XWHISK_PG_LEADER_H

#include "leader.h"

/* period_ms: how often the leader checks its session and the others try the lock. */
struct leader *pg_leader_start(struct loop *loop, const char *conninfo, const char *identity,
			       unsigned period_ms, void (*on_elected)(void *data),
			       void (*on_lost)(void *data), void *data);

#endif
