/* SPDX-License-Identifier: Apache-2.0 */
#ifndef XWHISK_STORE_EVENTS_H
#define XWHISK_STORE_EVENTS_H

#include "store.h"

struct event_log;

/* Wraps inner (taking ownership): entity and subject writes publish events. */
struct store *store_with_events(struct store *inner, struct event_log *log);

#endif
