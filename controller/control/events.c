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
	/* Events since the last flush: every watcher is in step, so they all get these same
	 * bytes, in one write each per loop iteration. */
	struct buf unflushed;
};

static char *ring_get(struct event_log *log, uint64_t version)
{
	return log->lines[version % log->capacity];
}

static void send_now(struct watcher *w, const char *data, size_t len)
{
	if (http_resp_chunk(w->req, data, len))
		pr_debug("events: a watcher went away");
}

void event_log_flush(struct event_log *log)
{
	if (!buf_pending(&log->unflushed))
		return;
	for (struct watcher *w = log->watchers; w; w = w->next)
		send_now(w, buf_head(&log->unflushed), buf_pending(&log->unflushed));
	buf_reset(&log->unflushed);
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
	(void)buf_puts(&log->unflushed, line);
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
		free(w);
	}
	buf_free(&log->unflushed);
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
	if (log->watchers && buf_puts(&log->unflushed, line))
		pr_warn("events: out of memory queueing an event");
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
	/* The others first: the newcomer's replay below includes what they have not had. */
	reap_watchers(log);
	event_log_flush(log);
	http_resp_begin(req, 200, "application/x-ndjson");
	snprintf(line, sizeof(line), "{\"type\":\"%s\",\"epoch\":\"%s\",\"version\":%llu}\n",
		 resume ? "hello" : "resync", log->epoch, (unsigned long long)log->version);
	{
		struct buf replay = BUF_INIT;

		buf_puts(&replay, line);
		if (resume)
			for (uint64_t v = since + 1; v <= log->version; v++)
				buf_puts(&replay, ring_get(log, v));
		send_now(w, replay.data, replay.len);
		buf_free(&replay);
	}
	w->next = log->watchers;
	log->watchers = w;
	log->nwatchers++;
}
