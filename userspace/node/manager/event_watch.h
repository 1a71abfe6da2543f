/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's end of the controller's event stream: a watch that resumes from the last
 * version it saw (or resyncs: drops every cached entity), and hands each event to the
 * node. Reconnects with backoff; a silent stream (no heartbeat) counts as broken.
 */
#ifndef XWHISK_EVENT_WATCH_H
#define XWHISK_EVENT_WATCH_H

#include <jansson.h>
#include <stdint.h>

#include "node/ctlclient.h"
#include "loop.h"

struct event_watch;

/* on_event gets every event (and {"type":"resync"} when the node must forget caches). */
typedef void (*event_cb)(const json_t *event, void *data);

struct event_watch *event_watch_new(struct loop *loop, struct ctlclient *cc, event_cb cb,
				    void *data);
void event_watch_free(struct event_watch *ew);
/* Takes the stream's bytes as they arrive: complete lines become events. Public for the
 * fuzz target (tests/fuzz/fuzz_events.c), which has no controller to connect to. */
void event_watch_feed(struct event_watch *ew, const char *data, size_t len);

#endif
