// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP server when memory runs out, one allocation at a time: linked with
 * -Wl,--wrap for malloc, calloc and realloc (Makefile), so that the k-th allocation our
 * code makes after the test arms it fails. For every k on a request's way in, the server
 * answers (200 when the failure missed its path, 503 when it hit the parsing, an error
 * from the handler's own answer) or closes the connection, and serves the next request
 * whole; under the sanitizers it leaks nothing on the way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
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
	if (req->error_status) {
		http_resp_send(req, req->error_status, "text/plain", req->error_msg,
			       strlen(req->error_msg));
		return;
	}
	http_resp_header(req, "X-Path", "%s", req->path);
	http_resp_send(req, 200, "text/plain", "fine", 4);
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

static const char REQUEST[] = "GET /some/path?with=query HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n"
			      "X-B: 2\r\nConnection: close\r\n\r\n";

static void test_every_allocation_fails_once(void)
{
	struct http_server_opts o = { .max_body = 1024 };
	struct loop *loop = loop_new();
	struct http_server *srv = loop ? http_server_new(loop, &o, handler, NULL) : NULL;
	int answered = 0, refused = 0, closed = 0;
	long k, total;
	char *got;

	ASSERT(srv);
	/* How many allocations a whole request makes, counted with none failing. */
	allocations = 0;
	fail_countdown = -1;
	got = exchange(loop, srv, REQUEST);
	total = allocations;
	fail_countdown = 0;
	ASSERT(got && !strncmp(got, "HTTP/1.1 200", 12));
	ASSERT(total > 3);
	for (k = 1; k <= total; k++) {
		fail_countdown = k;
		got = exchange(loop, srv, REQUEST);
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
		/* The next request is served whole. */
		got = exchange(loop, srv, REQUEST);
		CHECK(got && !strncmp(got, "HTTP/1.1 200", 12) && strstr(got, "X-Path: /some/path"));
	}
	fprintf(stderr, "  %ld allocations: %d answered, %d refused 503, %d closed\n", total,
		answered, refused, closed);
	/* Memory that ran out while the head was parsed is the server's trouble, not a bad
	 * request: 503, with Retry-After. */
	CHECK(refused > 0);
	http_server_free(srv);
	loop_free(loop);
}

int main(void)
{
	RUN(test_every_allocation_fails_once);
	TEST_EXIT();
}
