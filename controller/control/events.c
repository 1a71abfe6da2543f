// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "json.h"
#include "log.h"
#include "util.h"

/* Heartbeats let both ends find a dead peer on an otherwise quiet stream. */
#define HEARTBEAT_MS 10000

struct watcher {
	struct http_request *req;
	struct buf pending; /* events for it, written once per loop iteration */
	struct watcher *next;
};

struct event_log {
	struct loop *loop;
	char epoch[17];
	uint64_t version;  /* the newest event's version */
	char **lines;      /* ring of serialized events, each ending in '\n' */
	size_t capacity;
	struct watcher *watchers;
	size_t nwatchers;
	struct loop_timer *heartbeat;
	bool dirty;
};

static char *ring_get(struct event_log *log, uint64_t version)
{
	return log->lines[version % log->capacity];
}

/* Queued for the next flush: a burst of events costs each watcher one write. */
static void send_line(struct event_log *log, struct watcher *w, const char *line)
{
	if (buf_puts(&w->pending, line))
		pr_warn("events: out of memory queueing an event; the watcher will resync");
	log->dirty = true;
}

void event_log_flush(struct event_log *log)
{
	if (!log->dirty)
		return;
	log->dirty = false;
	for (struct watcher *w = log->watchers; w; w = w->next) {
		if (!buf_pending(&w->pending))
			continue;
		if (http_resp_chunk(w->req, buf_head(&w->pending), buf_pending(&w->pending)))
			pr_debug("events: a watcher went away");
		buf_reset(&w->pending);
	}
}

/* Drops watchers whose client is gone, ending their requests. */
static void reap_watchers(struct event_log *log)
{
	struct watcher **pp = &log->watchers;

	while (*pp) {
		struct watcher *w = *pp;

		if (http_req_alive(w->req)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		http_resp_end(w->req);
		buf_free(&w->pending);
		free(w);
		log->nwatchers--;
	}
}

static void on_heartbeat(struct loop *loop, void *data)
{
	struct event_log *log = data;
	char line[128];

	log->heartbeat = NULL;
	snprintf(line, sizeof(line), "{\"type\":\"heartbeat\",\"version\":%llu}\n",
		 (unsigned long long)log->version);
	reap_watchers(log);
	for (struct watcher *w = log->watchers; w; w = w->next)
		send_line(log, w, line);
	event_log_flush(log);
	log->heartbeat = loop_timer_add(loop, HEARTBEAT_MS, on_heartbeat, log);
}

struct event_log *event_log_new(struct loop *loop, size_t capacity)
{
	struct event_log *log = calloc(1, sizeof(*log));

	if (!log)
		return NULL;
	log->lines = calloc(capacity, sizeof(*log->lines));
	if (!log->lines) {
		free(log);
		return NULL;
	}
	log->loop = loop;
	log->capacity = capacity;
	random_hex(log->epoch, 16);
	log->heartbeat = loop_timer_add(loop, HEARTBEAT_MS, on_heartbeat, log);
	return log;
}

void event_log_free(struct event_log *log)
{
	if (!log)
		return;
	while (log->watchers) {
		struct watcher *w = log->watchers;

		log->watchers = w->next;
		http_resp_end(w->req);
		buf_free(&w->pending);
		free(w);
	}
	for (size_t i = 0; i < log->capacity; i++)
		free(log->lines[i]);
	free(log->lines);
	loop_timer_cancel(log->loop, log->heartbeat);
	free(log);
}

const char *event_log_epoch(const struct event_log *log)
{
	return log->epoch;
}

uint64_t event_log_version(const struct event_log *log)
{
	return log->version;
}

size_t event_log_watchers(struct event_log *log)
{
	reap_watchers(log);
	return log->nwatchers;
}

uint64_t event_log_publish(struct event_log *log, const char *type, json_t *fields)
{
	/* ts_us: when it was published, so a node can tell how long it took to reach it. */
	json_t *ev = json_pack("{s:I,s:s,s:I}", "version", (json_int_t)(log->version + 1), "type",
			       type, "ts_us", (json_int_t)clock_real_us());
	char *text, *line = NULL;
	size_t slot;

	if (fields)
		json_object_update(ev, fields);
	json_decref(fields);
	text = json_dump(ev);
	json_decref(ev);
	if (!text || asprintf(&line, "%s\n", text) < 0) {
		free(text);
		pr_err("events: out of memory; nodes will resync");
		return log->version;
	}
	free(text);
	log->version++;
	slot = log->version % log->capacity;
	free(log->lines[slot]);
	log->lines[slot] = line;
	reap_watchers(log);
	for (struct watcher *w = log->watchers; w; w = w->next)
		send_line(log, w, line);
	return log->version;
}

void event_log_watch(struct event_log *log, struct http_request *req, const char *epoch,
		     uint64_t since)
{
	struct watcher *w = calloc(1, sizeof(*w));
	uint64_t oldest = log->version >= log->capacity ? log->version - log->capacity + 1 : 1;
	bool resume = epoch && !strcmp(epoch, log->epoch) && since <= log->version &&
		      since + 1 >= oldest;
	char line[160];

	if (!w) {
		http_resp_send(req, 503, "application/json", "{\"error\":\"out of memory\"}", 25);
		return;
	}
	w->req = req;
	http_resp_begin(req, 200, "application/x-ndjson");
	snprintf(line, sizeof(line), "{\"type\":\"%s\",\"epoch\":\"%s\",\"version\":%llu}\n",
		 resume ? "hello" : "resync", log->epoch, (unsigned long long)log->version);
	send_line(log, w, line);
	if (resume)
		for (uint64_t v = since + 1; v <= log->version; v++)
			send_line(log, w, ring_get(log, v));
	w->next = log->watchers;
	log->watchers = w;
	log->nwatchers++;
	event_log_flush(log);
}
