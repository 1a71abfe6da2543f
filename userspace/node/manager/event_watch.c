// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "node/manager/event_watch.h"
#include "json.h"
#include "log.h"

/* The controller sends a heartbeat every 10 s. */
#define SILENCE_MS 25000
/* How often the watchdog looks at the silence and at which controller is current. */
#define WATCHDOG_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

struct event_watch {
	struct loop *loop;
	struct ctlclient *cc;
	event_cb cb;
	void *data;
	struct http_call *call;
	struct loop_timer *timer;     /* reconnect, or the silence watchdog */
	struct buf line;
	char epoch[40];
	uint64_t version;
	unsigned backoff_ms;
	uint64_t last_heard;
	unsigned idx; /* the controller the stream comes from (ctlclient.h) */
};

static void watch_connect(struct loop *loop, void *data);

static void schedule(struct event_watch *ew, unsigned ms)
{
	if (ew->timer)
		loop_timer_cancel(ew->loop, ew->timer);
	ew->timer = loop_timer_add(ew->loop, ms, watch_connect, ew);
}

static void watch_broken(struct event_watch *ew, const char *why)
{
	pr_warn("events: stream from the controller broken (%s); reconnecting", why);
	schedule(ew, ew->backoff_ms);
	ew->backoff_ms = ew->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ew->backoff_ms * 2;
}

static void handle_line(struct event_watch *ew, const char *text, size_t len)
{
	json_t *ev = json_parse(text, len, NULL, 0);
	const char *type = json_obj_str(ev, "type");
	uint64_t v = (uint64_t)json_integer_value(json_object_get(ev, "version"));

	if (!type) {
		json_decref(ev);
		return;
	}
	ew->last_heard = loop_now_ms(ew->loop);
	ew->backoff_ms = BACKOFF_MIN_MS;
	if (!strcmp(type, "hello") || !strcmp(type, "resync")) {
		snprintf(ew->epoch, sizeof(ew->epoch), "%s", json_obj_str(ev, "epoch") ?: "");
		ew->version = v;
		if (!strcmp(type, "resync"))
			ew->cb(ev, ew->data);
	} else if (strcmp(type, "heartbeat")) {
		if (v > ew->version)
			ew->version = v;
		ew->cb(ev, ew->data);
	}
	json_decref(ev);
}

void event_watch_feed(struct event_watch *ew, const char *data, size_t len)
{
	char *nl;

	buf_append(&ew->line, data, len);
	while ((nl = memchr(buf_head(&ew->line), '\n', buf_pending(&ew->line)))) {
		size_t n = (size_t)(nl - buf_head(&ew->line));

		handle_line(ew, buf_head(&ew->line), n);
		buf_consume(&ew->line, n + 1);
	}
}

static void on_body(const char *data, size_t len, void *arg)
{
	event_watch_feed(arg, data, len);
}

static void on_end(struct http_response *resp, int err, void *data)
{
	struct event_watch *ew = data;

	ew->call = NULL;
	if (err)
		ctlclient_failover(ew->cc, ew->idx, strerror(-err));
	watch_broken(ew, err ? strerror(-err) : resp->status == 200 ? "ended" : "refused");
}

static void on_watchdog(struct loop *loop, void *data)
{
	struct event_watch *ew = data;

	ew->timer = NULL;
	if (loop_now_ms(loop) - ew->last_heard > SILENCE_MS) {
		http_call_cancel(ew->call);
		ew->call = NULL;
		watch_broken(ew, "silent");
		return;
	}
	/* The node moved on to another controller: its events are the ones that count (a
	 * resync, as its epoch is another). */
	if (ctlclient_target(ew->cc) != ew->idx) {
		http_call_cancel(ew->call);
		ew->call = NULL;
		pr_info("events: following the controller the node calls now");
		ew->backoff_ms = BACKOFF_MIN_MS;
		schedule(ew, 0);
		return;
	}
	ew->timer = loop_timer_add(loop, WATCHDOG_MS, on_watchdog, ew);
}

static void watch_connect(struct loop *loop, void *data)
{
	struct event_watch *ew = data;
	char target[160], headers[160];

	ew->timer = NULL;
	buf_reset(&ew->line);
	snprintf(target, sizeof(target), "/internal/v1/events?epoch=%s&since=%llu", ew->epoch,
		 (unsigned long long)ew->version);
	snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n",
		 ctlclient_token(ew->cc));
	ew->idx = ctlclient_target(ew->cc);
	ew->call = http_pool_stream(ctlclient_pool(ew->cc), "GET", target, headers, NULL, 0, 0,
				    on_body, on_end, ew);
	if (!ew->call) {
		watch_broken(ew, "connect");
		return;
	}
	ew->last_heard = loop_now_ms(loop);
	ew->timer = loop_timer_add(loop, WATCHDOG_MS, on_watchdog, ew);
}

struct event_watch *event_watch_new(struct loop *loop, struct ctlclient *cc, event_cb cb,
				    void *data)
{
	struct event_watch *ew = calloc(1, sizeof(*ew));

	if (!ew)
		return NULL;
	ew->loop = loop;
	ew->cc = cc;
	ew->cb = cb;
	ew->data = data;
	ew->backoff_ms = BACKOFF_MIN_MS;
	schedule(ew, 0);
	return ew;
}

void event_watch_free(struct event_watch *ew)
{
	if (!ew)
		return;
	http_call_cancel(ew->call);
	loop_timer_cancel(ew->loop, ew->timer);
	buf_free(&ew->line);
	free(ew);
}
