/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The controller's event log: every change nodes must hear about (entity writes, sandbox
 * allocations and state changes, nodes joining and lost) gets a monotonically increasing version. Nodes
 * hold a streaming watch (NDJSON over chunked HTTP); after a broken stream they resume from
 * their last version, or are told to resync when the log has moved past it or the
 * controller restarted (a new epoch).
 */
#ifndef XWHISK_EVENTS_H
#define XWHISK_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "http.h"
#include "loop.h"

struct event_log;

struct event_log *event_log_new(struct loop *loop, size_t capacity);
void event_log_free(struct event_log *log);
const char *event_log_epoch(const struct event_log *log);
uint64_t event_log_version(const struct event_log *log);
/* Publishes {"version": n, "type": type, ...fields} (fields is stolen). Returns n. */
uint64_t event_log_publish(struct event_log *log, const char *type, json_t *fields);
/* Streams to req: a hello line, then the events after since (or a resync line when they
 * are gone or epoch is another run's), then every new event as it is published. */
void event_log_watch(struct event_log *log, struct http_request *req, const char *epoch,
		     uint64_t since);
size_t event_log_watchers(struct event_log *log);
/* Writes what was published since the last flush: the controller calls it before its
 * loop sleeps, so each watcher gets one write per burst of events. */
void event_log_flush(struct event_log *log);

#endif
