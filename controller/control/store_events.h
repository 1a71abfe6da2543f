/* SPDX-License-Identifier: Apache-2.0 */
#ifndef XWHISK_STORE_EVENTS_H
#define XWHISK_STORE_EVENTS_H

#include "loop.h"
#include "store.h"

struct event_log;

/* Wraps inner (taking ownership): entity and subject writes publish events. */
struct store *store_with_events(struct store *inner, struct event_log *log);

/* On a store other controllers write too (PostgreSQL), publishes their entity writes as
 * well, read from the store's change feed on loop. A no-op for other stores. */
int store_events_follow(struct store *observed, struct loop *loop);

#endif
