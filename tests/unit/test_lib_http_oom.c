// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP server when memory runs out, one allocation at a time: linked with
 * -Wl,--wrap for malloc, calloc and realloc (Makefile), so that the k-th allocation our
 * code makes after the test arms it fails. For every k on a request's way in (a small GET;
 * a POST with a long URL, many headers and a body; a chunked POST), the server answers
 * (200 when the failure missed its path, 503 with Retry-After when it hit the reading of
 * the request) or closes the connection, holds no request afterwards, and serves the next
 * request whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "http_head.h"
#include "loop.h"
#include "test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);

static long fail_countdown; /* the allocation that fails: 1 the next one, 0 none */
static long allocations;    /* counted while armed */

static bool fail_now(void)
{
	if (!fail_countdown)
		return false;
	allocations++;
	return --fail_countdown == 0;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
	return fail_now() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

static void handler(struct http_request *req, void *data)
{
	char body[32];
	int n;

	if (req->error_status) {
		http_resp_send(req, req->error_status, "text/plain", req->error_msg,
			       strlen(req->error_msg));
		return;
	}
	http_resp_header(req, "X-Path", "%s", req->path);
	n = snprintf(body, sizeof(body), "fine %zu", req->body.len);
	http_resp_send(req, 200, "text/plain", body, (size_t)n);
}

static void stop_loop(struct loop *loop, void *data)
{
	loop_stop(loop);
}

/* Sends req on a new connection of srv and reads until the server closes it (the request
 * asks it to): what came back, "" for a close without an answer, NULL if it never closed. */
static char *exchange(struct loop *loop, struct http_server *srv, const char *req)
{
	static char got[4096];
	size_t len = 0;
	int sv[2];
	uint64_t deadline = clock_mono_ms() + 2000;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
		return NULL;
	if (http_server_adopt(srv, sv[0], "oom-test")) { /* as its accept does: a close */
		close(sv[0]);
		close(sv[1]);
		return strcpy(got, "");
	}
	if (write(sv[1], req, strlen(req)) != (ssize_t)strlen(req))
		goto fail;
	while (clock_mono_ms() < deadline) {
		ssize_t n = read(sv[1], got + len, sizeof(got) - 1 - len);

		/* a close, or a reset: the server closed with the request still unread */
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			close(sv[1]);
			got[len] = '\0';
			return got;
		}
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (errno != EAGAIN)
			goto fail;
		/* The test's own timer is not one of the server's allocations. */
		long armed = fail_countdown;

		fail_countdown = 0;
		struct loop_timer *t = loop_timer_add(loop, 1, stop_loop, NULL);

		fail_countdown = armed;
		if (!t)
			goto fail;
		loop_run(loop);
	}
fail:
	close(sv[1]);
	return NULL;
}

/* What served shows: the path, and the body's length. */
static bool served(const char *got, const char *body_len)
{
	char want[32];

	snprintf(want, sizeof(want), "fine %s", body_len);
	return got && !strncmp(got, "HTTP/1.1 200", 12) && strstr(got, "X-Path: /some/path") &&
	       strstr(got, want);
}

static void every_allocation_fails_once(const char *request, const char *body_len)
{
	struct http_server_opts o = { .max_body = 1024 };
	struct loop *loop = loop_new();
	struct http_server *srv = loop ? http_server_new(loop, &o, handler, NULL) : NULL;
	int answered = 0, refused = 0, closed = 0;
	long k, total;
	char *got;

	ASSERT(srv);
	/* A first request grows what stays (the loop's tables), then one is counted. */
	CHECK(served(exchange(loop, srv, request), body_len));
	allocations = 0;
	fail_countdown = -1;
	got = exchange(loop, srv, request);
	total = allocations;
	fail_countdown = 0;
	ASSERT(served(got, body_len));
	ASSERT(total > 3);
	for (k = 1; k <= total; k++) {
		fail_countdown = k;
		got = exchange(loop, srv, request);
		fail_countdown = 0;
		CHECK(got != NULL); /* every connection ends */
		if (!got)
			continue;
		if (!strncmp(got, "HTTP/1.1 200", 12))
			answered++;
		else if (!strncmp(got, "HTTP/1.1 503", 12) && strstr(got, "Retry-After: "))
			refused++;
		else if (!*got)
			closed++;
		else
			CHECK(!"an answer other than 200, 503 or a close");
		CHECK(http_requests_live() == 0); /* nothing held on the way */
		/* The next request is served whole. */
		CHECK(served(exchange(loop, srv, request), body_len));
	}
	fprintf(stderr, "  %ld allocations: %d answered, %d refused 503, %d closed\n", total,
		answered, refused, closed);
	/* Memory that ran out while the request was read is the server's trouble, not a bad
	 * request: 503, with Retry-After. */
	CHECK(refused > 0);
	http_server_free(srv);
	loop_free(loop);
}

static void test_small_get(void)
{
	every_allocation_fails_once("GET /some/path?with=query HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"
				    "X-B: 2\r\nConnection: close\r\n\r\n",
				    "0");
}

/* A URL longer than the head's first room, more headers than fit inline, a body. */
static void test_large_post(void)
{
	static char req[4096];
	char query[600];
	int n;

	memset(query, 'q', sizeof(query) - 1);
	query[sizeof(query) - 1] = '\0';
	n = snprintf(req, sizeof(req), "POST /some/path?%s HTTP/1.1\r\nHost: x\r\n", query);
	for (int i = 0; i < 16; i++)
		n += snprintf(req + n, sizeof(req) - (size_t)n, "X-Header-%d: value %d\r\n", i, i);
	snprintf(req + n, sizeof(req) - (size_t)n,
		 "Content-Length: 100\r\nConnection: close\r\n\r\n%0100d", 7);
	every_allocation_fails_once(req, "100");
}

static void test_chunked_post(void)
{
	every_allocation_fails_once("POST /some/path HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
				    "chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world"
				    "\r\n0\r\n\r\n",
				    "11");
}

/* A piece that cannot be stored leaves the strings before it whole. */
static void test_head_piece_keeps_text(void)
{
	struct http_head h = { 0 };
	size_t first = SIZE_MAX, second = SIZE_MAX;
	char big[1000];

	memset(big, 'b', sizeof(big));
	ASSERT(http_head_piece(&h, &first, "ab", 2) == 0);
	fail_countdown = 1;
	CHECK(http_head_piece(&h, &first, big, sizeof(big)) == -ENOMEM); /* "ab" reopened */
	fail_countdown = 0;
	CHECK(http_head_piece(&h, &second, "xyz", 3) == 0);
	CHECK_STR(h.text.data + first, "ab");
	CHECK_STR(h.text.data + second, "xyz");
	http_head_free(&h);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN); /* a connection the test gave up on must not end it */
	RUN(test_head_piece_keeps_text);
	RUN(test_small_get);
	RUN(test_large_post);
	RUN(test_chunked_post);
	TEST_EXIT();
}
