// SPDX-License-Identifier: Apache-2.0
/* The controller's event log: hello and replay when resuming, resync when the epoch is
 * another run's or the log has moved past the version, live events in order. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "events.h"
#include "http.h"
#include "json.h"
#include "loop.h"
#include "test.h"

static struct loop *loop;
static struct event_log *elog;
static struct http_server *srv;
static struct http_pool *pool;
static struct buf got;

static void handler(struct http_request *req, void *data)
{
	char *epoch = query_get(req->query, "epoch"), *since = query_get(req->query, "since");

	event_log_watch(elog, req, epoch, since ? strtoull(since, NULL, 10) : 0);
	free(epoch);
	free(since);
}

static void on_body(const char *data, size_t len, void *arg)
{
	buf_append(&got, data, len);
}

static void on_end(struct http_response *resp, int err, void *data)
{
}

static void stop(struct loop *l, void *data)
{
	loop_stop(l);
}

static void spin(unsigned ms)
{
	loop_timer_add(loop, ms, stop, NULL);
	loop_run(loop);
}

static struct http_call *watch(const char *epoch, unsigned long long since)
{
	char target[128];

	buf_reset(&got);
	snprintf(target, sizeof(target), "/?epoch=%s&since=%llu", epoch, since);
	return http_pool_stream(pool, "GET", target, NULL, NULL, 0, 0, on_body, on_end, NULL);
}

/* The n-th line of what arrived, parsed. */
static json_t *line(int n)
{
	const char *p = got.data ? got.data : "";

	for (int i = 0; i < n && p; i++) {
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return p && *p ? json_loadb(p, strcspn(p, "\n"), 0, NULL) : NULL;
}

static int count_lines(void)
{
	int n = 0;

	for (size_t i = 0; i < got.len; i++)
		n += got.data[i] == '\n';
	return n;
}

/* Runs the loop until n lines arrived (at most 3 s: a loaded machine is slow, not wrong). */
static void wait_lines(int n)
{
	for (int ms = 0; count_lines() < n && ms < 3000; ms += 5)
		spin(5);
}

static void publish(int i)
{
	event_log_publish(elog, "entity", json_pack("{s:i}", "i", i));
}

static void test_fresh_watch_resyncs_then_streams(void)
{
	struct http_call *c = watch("", 0);
	json_t *l;

	ASSERT(c);
	wait_lines(1);
	l = line(0);
	CHECK(l && !strcmp(json_obj_str(l, "type"), "resync"));
	json_decref(l);
	publish(1);
	publish(2);
	event_log_flush(elog);
	wait_lines(3);
	CHECK(count_lines() == 3);
	l = line(2);
	CHECK(l && json_integer_value(json_object_get(l, "i")) == 2 &&
	      json_integer_value(json_object_get(l, "ts_us")) > 0);
	json_decref(l);
	http_call_cancel(c);
}

static void test_resume_replays_what_was_missed(void)
{
	uint64_t v = event_log_version(elog);
	struct http_call *c;
	json_t *l;

	publish(3);
	publish(4);
	c = watch(event_log_epoch(elog), v);
	ASSERT(c);
	wait_lines(3);
	l = line(0);
	CHECK(l && !strcmp(json_obj_str(l, "type"), "hello"));
	json_decref(l);
	CHECK(count_lines() == 3);
	l = line(1);
	CHECK(l && json_integer_value(json_object_get(l, "i")) == 3);
	json_decref(l);
	http_call_cancel(c);
}

static void test_too_far_behind_or_other_epoch_resyncs(void)
{
	struct http_call *c;
	json_t *l;

	for (int i = 0; i < 20; i++) /* the ring holds 8: version 1 is long gone */
		publish(100 + i);
	c = watch(event_log_epoch(elog), 1);
	ASSERT(c);
	wait_lines(1);
	l = line(0);
	CHECK(l && !strcmp(json_obj_str(l, "type"), "resync"));
	json_decref(l);
	http_call_cancel(c);
	c = watch("0123456789abcdef", event_log_version(elog));
	ASSERT(c);
	wait_lines(1);
	l = line(0);
	CHECK(l && !strcmp(json_obj_str(l, "type"), "resync"));
	json_decref(l);
	http_call_cancel(c);
	for (int ms = 0; event_log_watchers(elog) && ms < 3000; ms += 5)
		spin(5);
	CHECK(event_log_watchers(elog) == 0);
}

int main(void)
{
	struct http_server_opts o = { .max_body = 1024 };

	loop = loop_new();
	elog = event_log_new(loop, 8);
	srv = http_server_new(loop, &o, handler, NULL);
	if (!loop || !elog || !srv || http_server_listen(srv, "127.0.0.1:0", false)) {
		printf("not ok - setup\n");
		return 1;
	}
	pool = http_pool_new(loop, "127.0.0.1", http_server_port(srv), 4);
	RUN(test_fresh_watch_resyncs_then_streams);
	RUN(test_resume_replays_what_was_missed);
	RUN(test_too_far_behind_or_other_epoch_resyncs);
	http_pool_free(pool);
	http_server_free(srv);
	event_log_free(elog);
	loop_free(loop);
	buf_free(&got);
	TEST_EXIT();
}
