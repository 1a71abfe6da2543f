// SPDX-License-Identifier: Apache-2.0
/* The HTTP server and client against each other on one event loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "loop.h"
#include "test.h"

struct fixture {
	struct loop *loop;
	struct http_server *srv;
	struct http_pool *pool;
	int port;
	struct http_request *held[8]; /* requests answered later, out of order */
	int nheld;
	int done;
	int status[8];
	char bodies[8][256];
	struct http_request *head_held; /* a head whose verdict the test gives */
	int head_checks;
};

#define LARGE_ANSWER (64u << 10)

static void handler(struct http_request *req, void *data)
{
	struct fixture *f = data;
	char body[256];
	int n;

	if (req->error_status) {
		n = snprintf(body, sizeof(body), "error %d", req->error_status);
		http_resp_send(req, req->error_status, "text/plain", body, (size_t)n);
		return;
	}
	if (!strcmp(req->path, "/stream")) {
		http_resp_begin(req, 200, "application/x-ndjson");
		http_resp_chunk(req, "one\n", 4);
		f->held[f->nheld++] = req;
		return;
	}
	if (!strcmp(req->path, "/hold") && f->nheld < 8) {
		f->held[f->nheld++] = req;
		return;
	}
	if (!strcmp(req->path, "/large")) {
		static char large[LARGE_ANSWER];

		memset(large, 'x', sizeof(large));
		http_resp_send(req, 200, "text/plain", large, sizeof(large));
		return;
	}
	n = snprintf(body, sizeof(body), "%s %s q=%s len=%zu%s%s", http_method_str(req->method),
		     req->path, req->query ? req->query : "-", req->body.len,
		     http_req_header(req, "X-Echo") ? " echo=" : "",
		     http_req_header(req, "X-Echo") ?: "");
	http_resp_header(req, "X-Test", "yes");
	http_resp_send(req, 200, "text/plain", body, (size_t)n);
}

static int fixture_init(struct fixture *f)
{
	struct http_server_opts o = { .max_body = 1024 };

	memset(f, 0, sizeof(*f));
	f->loop = loop_new();
	f->srv = http_server_new(f->loop, &o, handler, f);
	if (!f->loop || !f->srv || http_server_listen(f->srv, "127.0.0.1:0", false))
		return -1;
	f->port = http_server_port(f->srv);
	f->pool = http_pool_new(f->loop, "127.0.0.1", f->port, 4);
	return f->pool ? 0 : -1;
}

static void fixture_fini(struct fixture *f)
{
	http_pool_free(f->pool);
	http_server_free(f->srv);
	loop_free(f->loop);
}

static void stop_loop(struct loop *loop, void *data)
{
	loop_stop(loop);
}

/* Runs the loop until cond or ms pass. */
#define RUN_UNTIL(f, cond, ms)                                                                     \
	do {                                                                                       \
		uint64_t deadline_ = clock_mono_ms() + (ms);                                       \
		while (!(cond) && clock_mono_ms() < deadline_) {                                   \
			struct loop_timer *t_ = loop_timer_add((f)->loop, 5, stop_loop, NULL);     \
			loop_run((f)->loop);                                                       \
			(void)t_;                                                                  \
		}                                                                                  \
	} while (0)

struct call_ctx {
	struct fixture *f;
	int idx;
};

static void on_resp(struct http_response *resp, int err, void *data)
{
	struct call_ctx *c = data;

	c->f->status[c->idx] = err ? err : resp->status;
	if (!err)
		snprintf(c->f->bodies[c->idx], sizeof(c->f->bodies[0]), "%.*s", (int)resp->body.len,
			 resp->body.data ? resp->body.data : "");
	c->f->done++;
}

static void test_roundtrip_keepalive(void)
{
	struct fixture f;
	struct call_ctx c[3] = { { &f, 0 }, { &f, 1 }, { &f, 2 } };

	ASSERT(fixture_init(&f) == 0);
	ASSERT(http_pool_call(f.pool, "GET", "/a?x=1", NULL, NULL, 0, 2000, on_resp, &c[0]));
	RUN_UNTIL(&f, f.done == 1, 2000);
	CHECK(f.status[0] == 200);
	CHECK_STR(f.bodies[0], "GET /a q=x=1 len=0");
	/* The second call reuses the pooled connection. */
	ASSERT(http_pool_call(f.pool, "POST", "/b", "Content-Type: text/plain\r\n", "hello", 5,
			      2000, on_resp, &c[1]));
	RUN_UNTIL(&f, f.done == 2, 2000);
	CHECK(f.status[1] == 200);
	CHECK_STR(f.bodies[1], "POST /b q=- len=5");
	CHECK(http_server_connections(f.srv) == 1);
	fixture_fini(&f);
}

static void test_body_too_large(void)
{
	struct fixture f;
	struct call_ctx c = { &f, 0 };
	char big[4096];

	memset(big, 'x', sizeof(big));
	ASSERT(fixture_init(&f) == 0);
	ASSERT(http_pool_call(f.pool, "POST", "/big", NULL, big, sizeof(big), 2000, on_resp, &c));
	RUN_UNTIL(&f, f.done == 1, 2000);
	CHECK(f.status[0] == 413);
	fixture_fini(&f);
}

static void test_client_timeout(void)
{
	struct fixture f;
	struct call_ctx c = { &f, 0 };

	ASSERT(fixture_init(&f) == 0);
	ASSERT(http_pool_call(f.pool, "GET", "/hold", NULL, NULL, 0, 50, on_resp, &c));
	RUN_UNTIL(&f, f.done == 1, 2000);
	CHECK(f.status[0] == -ETIMEDOUT);
	/* The server still holds the orphaned request; answering it must be harmless. */
	RUN_UNTIL(&f, http_server_connections(f.srv) == 0, 500);
	for (int i = 0; i < f.nheld; i++)
		http_resp_send(f.held[i], 200, NULL, "late", 4);
	fixture_fini(&f);
}

static int raw_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

/* Reads whatever the server has sent by now. */
static size_t raw_read(struct fixture *f, int fd, char *out, size_t size, const char *until)
{
	size_t len = 0;
	uint64_t deadline = clock_mono_ms() + 2000;

	out[0] = '\0';
	while (clock_mono_ms() < deadline && !strstr(out, until)) {
		ssize_t n;

		RUN_UNTIL(f, 0, 5);
		n = recv(fd, out + len, size - len - 1, MSG_DONTWAIT);
		if (n > 0) {
			len += (size_t)n;
			out[len] = '\0';
		} else if (n == 0) {
			break;
		}
	}
	return len;
}

static void test_pipelining_in_order(void)
{
	static const char reqs[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
				   "GET /second HTTP/1.1\r\nHost: x\r\n\r\n";
	struct fixture f;
	char out[4096];
	char *first, *second;
	int fd;

	ASSERT(fixture_init(&f) == 0);
	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	ASSERT(write(fd, reqs, sizeof(reqs) - 1) == (ssize_t)(sizeof(reqs) - 1));
	RUN_UNTIL(&f, f.nheld == 1, 1000);
	ASSERT(f.nheld == 1);
	/* /second was answered already but must wait behind /hold. */
	raw_read(&f, fd, out, sizeof(out), "never");
	CHECK(strstr(out, "/second") == NULL);
	http_resp_send(f.held[0], 200, "text/plain", "held-answer", 11);
	raw_read(&f, fd, out, sizeof(out), "/second");
	first = strstr(out, "held-answer");
	second = strstr(out, "GET /second");
	CHECK(first && second && first < second);
	close(fd);
	fixture_fini(&f);
}

/* A client that pipelines requests for large answers and reads none: the server stops
 * reading (its writes block) and holds about OUT_HIGH_WATER (1 MB) of answers, not one
 * answer per request it could parse (a 16 KB read held ~30 MB). Once the client reads,
 * every answer comes, in order. */
static void test_unread_answers_bounded(void)
{
	static const char get[] = "GET /large HTTP/1.1\r\nHost: x\r\n\r\n";
	const int want = 200;
	int sent = 0, got = 0, fd, small = 4096;
	size_t held_max = 0, matched = 0, total = 0;
	char buf[65536];
	struct fixture f;

	ASSERT(fixture_init(&f) == 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT(fd >= 0);
	ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
	{
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f.port) };

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	}
	ASSERT(fcntl(fd, F_SETFL, O_NONBLOCK) == 0);
	for (int round = 0; round < 400 && sent < want; round++) {
		while (sent < want && write(fd, get, sizeof(get) - 1) == (ssize_t)(sizeof(get) - 1))
			sent++;
		RUN_UNTIL(&f, false, 5);
		if (http_server_unsent_bytes(f.srv) > held_max)
			held_max = http_server_unsent_bytes(f.srv);
	}
	/* Every request went in (a few hundred bytes each: the kernel took them), and the
	 * server holds what one high-water mark and one answer come to. */
	CHECK(sent == want);
	CHECK(held_max >= (1u << 20));
	CHECK(held_max <= (1u << 20) + 2 * LARGE_ANSWER);
	fprintf(stderr, "  %d requests sent, at most %zu bytes of answers held\n", sent, held_max);
	/* Now read: every answer arrives, whole. */
	for (int round = 0; round < 4000 && got < want; round++) {
		ssize_t n;

		RUN_UNTIL(&f, false, 1);
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			total += (size_t)n;
			for (ssize_t i = 0; i < n; i++) {
				static const char status[] = "HTTP/1.1 200";

				matched = buf[i] == status[matched] ? matched + 1 : buf[i] == 'H';
				if (matched == sizeof(status) - 1) {
					got++;
					matched = 0;
				}
			}
		}
	}
	CHECK(got == want);
	CHECK(total >= (size_t)want * LARGE_ANSWER);
	close(fd);
	RUN_UNTIL(&f, http_server_connections(f.srv) == 0, 1000);
	fixture_fini(&f);
}

/* Longer than a head's first block of strings: kept, it would move them. */
#define LONG_TRAILER                                                                       \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_malformed_and_chunked(void)
{
	static const char bad[] = "GARBAGE\r\n\r\n";
	static const char chunked[] = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
				      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	static const char trailed[] = "POST /t?a=1&b=2 HTTP/1.1\r\nHost: x\r\n"
				      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
				      "X-Echo: " LONG_TRAILER "\r\n\r\n";
	struct fixture f;
	char out[4096];
	int fd;

	ASSERT(fixture_init(&f) == 0);
	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	ASSERT(write(fd, bad, sizeof(bad) - 1) > 0);
	raw_read(&f, fd, out, sizeof(out), "error 400");
	CHECK(strstr(out, "HTTP/1.1 400") != NULL);
	CHECK(strstr(out, "Connection: close") != NULL);
	close(fd);

	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	ASSERT(write(fd, chunked, sizeof(chunked) - 1) > 0);
	raw_read(&f, fd, out, sizeof(out), "len=5");
	CHECK(strstr(out, "POST /c q=- len=5") != NULL);
	close(fd);

	/* Trailer fields come after the head's strings are in place: they are read past (the
	 * handler finds no X-Echo), and the path and query stay as sent. */
	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	ASSERT(write(fd, trailed, sizeof(trailed) - 1) > 0);
	raw_read(&f, fd, out, sizeof(out), "len=3");
	CHECK(strstr(out, "POST /t q=a=1&b=2 len=3") && !strstr(out, "echo="));
	close(fd);

	/* More fields than a head holds in place (HTTP_HEAD_INLINE_FIELDS): those read
	 * before it grew are still found. */
	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	{
		char many[1024];
		int n = snprintf(many, sizeof(many), "GET /m?x HTTP/1.1\r\nX-Echo: first\r\n");

		for (int i = 0; i < 2 * HTTP_HEAD_INLINE_FIELDS; i++)
			n += snprintf(many + n, sizeof(many) - (size_t)n, "X-F%d: %d\r\n", i, i);
		n += snprintf(many + n, sizeof(many) - (size_t)n, "Host: x\r\n\r\n");
		ASSERT(write(fd, many, (size_t)n) == n);
	}
	raw_read(&f, fd, out, sizeof(out), "echo=");
	CHECK(strstr(out, "GET /m q=x len=0 echo=first") != NULL);
	close(fd);
	fixture_fini(&f);
}

static char streamed[256];

static void on_stream_body(const char *data, size_t len, void *arg)
{
	strncat(streamed, data, len < sizeof(streamed) - strlen(streamed) - 1 ? len : 0);
}

static void test_streaming(void)
{
	struct fixture f;
	struct call_ctx c = { &f, 0 };

	ASSERT(fixture_init(&f) == 0);
	streamed[0] = '\0';
	ASSERT(http_pool_stream(f.pool, "GET", "/stream", NULL, NULL, 0, 2000, on_stream_body,
				on_resp, &c));
	RUN_UNTIL(&f, strstr(streamed, "one\n") != NULL, 1000);
	CHECK(!strcmp(streamed, "one\n") && f.done == 0);
	ASSERT(f.nheld == 1);
	CHECK(http_req_alive(f.held[0]));
	http_resp_chunk(f.held[0], "two\n", 4);
	RUN_UNTIL(&f, strstr(streamed, "two\n") != NULL, 1000);
	http_resp_end(f.held[0]);
	RUN_UNTIL(&f, f.done == 1, 1000);
	CHECK(f.status[0] == 200);
	CHECK(!strcmp(streamed, "one\ntwo\n"));
	fixture_fini(&f);
}

/* Path segments for both routers: decoded, bounded, and nothing left over on failure. */
static void test_path_split(void)
{
	char *s[4];
	bool trailing;
	int n;

	n = url_path_split("/guest/actions/a%20b/", s, 4, &trailing);
	CHECK(n == 3 && trailing && !strcmp(s[0], "guest") && !strcmp(s[2], "a b"));
	url_path_free(s, n);
	CHECK(url_path_split("a/b/c/d/e", s, 4, &trailing) == -1); /* too deep */
	CHECK(url_path_split("a/b%zz", s, 4, &trailing) == -1);   /* bad escape */
	CHECK(url_path_split("a/foo%00bar", s, 4, &trailing) == -1); /* a NUL would cut "foo" */
	CHECK(url_path_split("guest%2Fx/actions", s, 4, &trailing) == 2 && !strcmp(s[0], "guest/x"));
	url_path_free(s, 2);
	/* All in one allocation: an empty segment and a shortened one keep their places. */
	n = url_path_split("//%61%62c//d", s, 4, &trailing);
	CHECK(n == 3 && !trailing && !strcmp(s[0], "abc") && !strcmp(s[1], "") &&
	      !strcmp(s[2], "d"));
	url_path_free(s, n);
	CHECK(url_path_split("", s, 4, &trailing) == 0 && !trailing);
	CHECK(url_path_split("///", s, 4, &trailing) == 0 && !trailing);
}

static void test_refused(void)
{
	struct fixture f;
	struct call_ctx c = { &f, 0 };
	struct http_pool *dead;

	ASSERT(fixture_init(&f) == 0);
	dead = http_pool_new(f.loop, "127.0.0.1", 1, 1);
	ASSERT(dead);
	if (http_pool_call(dead, "GET", "/", NULL, NULL, 0, 1000, on_resp, &c)) {
		RUN_UNTIL(&f, f.done == 1, 2000);
		CHECK(f.status[0] == -ECONNREFUSED);
	}
	http_pool_free(dead);
	fixture_fini(&f);
}

static int connect_raw(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* 1: the server closed it, 0: still open, -1: error. */
static int peer_closed(int fd)
{
	char b[256];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return 1;
	return n < 0 && errno == EAGAIN ? 0 : n > 0 ? 0 : -1;
}

static int fixture_init_opts(struct fixture *f, const struct http_server_opts *o)
{
	memset(f, 0, sizeof(*f));
	f->loop = loop_new();
	f->srv = f->loop ? http_server_new(f->loop, o, handler, f) : NULL;
	if (!f->srv || http_server_listen(f->srv, "127.0.0.1:0", false))
		return -1;
	f->port = http_server_port(f->srv);
	f->pool = http_pool_new(f->loop, "127.0.0.1", f->port, 4);
	return f->pool ? 0 : -1;
}

/* Requests pipelined in one write are handed over max_pipeline at a time: the next waits
 * in the buffer until one is answered (before, every request of a read was dispatched). */
static void test_pipeline_limit_holds(void)
{
	struct http_server_opts o = { .max_body = 1024, .max_pipeline = 4 };
	static const char hold[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
	char reqs[10 * sizeof(hold)], out[8192];
	size_t len = 0;
	int answered = 0, fd;
	struct fixture f;

	for (int i = 0; i < 10; i++, len += sizeof(hold) - 1)
		memcpy(reqs + len, hold, sizeof(hold) - 1);
	ASSERT(fixture_init_opts(&f, &o) == 0);
	fd = connect_raw(f.port);
	ASSERT(fd >= 0);
	ASSERT(write(fd, reqs, len) == (ssize_t)len);
	while (answered < 10) {
		int expect = 10 - answered < 4 ? 10 - answered : 4;

		RUN_UNTIL(&f, f.nheld == expect, 1000);
		RUN_UNTIL(&f, false, 20);
		CHECK(f.nheld == expect);
		if (f.nheld != expect)
			break;
		/* An answer makes room, so the next request may be handed over at once. */
		struct http_request *batch[4];
		int n = f.nheld;

		memcpy(batch, f.held, sizeof(batch[0]) * (size_t)n);
		f.nheld = 0;
		for (int i = 0; i < n; i++)
			http_resp_send(batch[i], 200, "text/plain", "held", 4);
		answered += n;
	}
	CHECK(answered == 10);
	raw_read(&f, fd, out, sizeof(out), "never");
	{
		int n = 0;

		for (const char *p = out; (p = strstr(p, "HTTP/1.1 200")); p++)
			n++;
		CHECK(n == 10);
	}
	close(fd);
	fixture_fini(&f);
}

/* A head answers 431 past 64 fields (as OpenWhisk's akka-http does) or past
 * max_header_size: 64 short fields pass, 65 do not, nor one long field. */
static void test_head_limits(void)
{
	struct http_server_opts o = { .max_body = 1024, .max_header_size = 8192 };
	struct { int fields; size_t value; const char *expect; } cases[] = {
		{ 64, 1, "HTTP/1.1 200" },
		{ 65, 1, "HTTP/1.1 431" },
		{ 1, 9000, "HTTP/1.1 431" },
	};
	struct fixture f;

	ASSERT(fixture_init_opts(&f, &o) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf req = BUF_INIT;
		char out[4096];
		int fd = connect_raw(f.port);

		ASSERT(fd >= 0);
		buf_puts(&req, "GET /limits HTTP/1.1\r\n");
		for (int k = 1; k < cases[i].fields; k++)
			buf_printf(&req, "X-%d: v\r\n", k);
		buf_puts(&req, "Host: ");
		for (size_t k = 0; k < cases[i].value; k++)
			buf_puts(&req, "h");
		buf_puts(&req, "\r\n\r\n");
		ASSERT(write(fd, req.data, req.len) == (ssize_t)req.len);
		raw_read(&f, fd, out, sizeof(out), "\r\n\r\n");
		CHECK(!strncmp(out, cases[i].expect, strlen(cases[i].expect)));
		if (strncmp(out, cases[i].expect, strlen(cases[i].expect)))
			fprintf(stderr, "  %d fields: %.40s\n", cases[i].fields, out);
		buf_free(&req);
		close(fd);
	}
	fixture_fini(&f);
}

/* A client that sends half a head, or nothing, is closed at the header deadline; one that
 * sent a whole request keeps its keep-alive connection past it. */
static void test_header_deadline(void)
{
	struct http_server_opts o = { .max_body = 1024, .header_timeout_ms = 300 };
	const char *half = "GET /slow HTTP/1.1\r\nHost: x\r\nX-A: ";
	const char *whole = "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n";
	struct fixture f;
	int slow = -1, silent = -1, fast = -1;
	uint64_t t0;

	ASSERT(fixture_init_opts(&f, &o) == 0);
	slow = connect_raw(f.port);
	silent = connect_raw(f.port);
	fast = connect_raw(f.port);
	ASSERT(slow >= 0 && silent >= 0 && fast >= 0);
	CHECK(write(slow, half, strlen(half)) == (ssize_t)strlen(half));
	CHECK(write(fast, whole, strlen(whole)) == (ssize_t)strlen(whole));
	t0 = clock_mono_ms();
	RUN_UNTIL(&f, peer_closed(slow) == 1 && peer_closed(silent) == 1, 3000);
	CHECK(peer_closed(slow) == 1);
	CHECK(peer_closed(silent) == 1);
	CHECK(clock_mono_ms() - t0 < 1500);
	/* The keep-alive connection got its answer and is still open. */
	RUN_UNTIL(&f, 0, 200);
	CHECK(peer_closed(fast) == 0);
	CHECK(http_server_connections(f.srv) == 1);
	close(slow);
	close(silent);
	close(fast);
	fixture_fini(&f);
}

/* Issue 11, item 2: bodies being read share the server's max_body_memory. A client that
 * announces a body and sends all but its last byte holds its share; another body that
 * would go beyond the cap is 503 with Retry-After at once, unread, and its connection
 * closed. Once the first body is whole the room comes back. */
static void test_body_memory_cap(void)
{
	struct http_server_opts o = { .max_body = 1024, .max_body_memory = 1500 };
	static const char head[] = "POST /pinned HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
	struct fixture f;
	char body[1000], out[4096];
	int pin, late, again;

	memset(body, 'x', sizeof(body));
	ASSERT(fixture_init_opts(&f, &o) == 0);
	pin = raw_connect(f.port);
	late = raw_connect(f.port);
	ASSERT(pin >= 0 && late >= 0);
	ASSERT(write(pin, head, sizeof(head) - 1) > 0);
	ASSERT(write(pin, body, sizeof(body) - 1) == (ssize_t)sizeof(body) - 1);
	RUN_UNTIL(&f, 0, 50);

	ASSERT(write(late, head, sizeof(head) - 1) > 0);
	raw_read(&f, late, out, sizeof(out), "error 503");
	CHECK(strstr(out, "HTTP/1.1 503") != NULL);
	CHECK(strstr(out, "Retry-After: 1") != NULL);
	CHECK(strstr(out, "Connection: close") != NULL);
	RUN_UNTIL(&f, peer_closed(late) == 1, 1000);
	CHECK(peer_closed(late) == 1);

	/* The pinned body completes and is served; then there is room again. */
	ASSERT(write(pin, body, 1) == 1);
	raw_read(&f, pin, out, sizeof(out), "len=1000");
	CHECK(strstr(out, "POST /pinned q=- len=1000") != NULL);
	again = raw_connect(f.port);
	ASSERT(again >= 0);
	ASSERT(write(again, head, sizeof(head) - 1) > 0);
	ASSERT(write(again, body, sizeof(body)) == (ssize_t)sizeof(body));
	raw_read(&f, again, out, sizeof(out), "len=1000");
	CHECK(strstr(out, "POST /pinned q=- len=1000") != NULL);
	close(pin);
	close(late);
	close(again);
	fixture_fini(&f);
}

/* An answer before the body (here the memory cap's 503) must reach a client that is still
 * sending: the server reads and drops the rest instead of closing on unread bytes, which
 * resets the connection under the client's feet. */
static void test_lingering_close(void)
{
	struct http_server_opts o = { .max_body = 1 << 20, .max_body_memory = 1000 };
	const size_t total = 512u << 10;
	char head[128], chunk[16384], out[4096];
	struct fixture f;
	size_t sent = 0;
	int fd;

	memset(chunk, 'x', sizeof(chunk));
	ASSERT(fixture_init_opts(&f, &o) == 0);
	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	snprintf(head, sizeof(head), "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
		 total);
	ASSERT(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
	for (uint64_t deadline = clock_mono_ms() + 3000; sent < total && clock_mono_ms() < deadline;) {
		size_t n = total - sent < sizeof(chunk) ? total - sent : sizeof(chunk);
		ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0)
			sent += (size_t)w;
		else if (errno != EAGAIN)
			break; /* reset */
		RUN_UNTIL(&f, 0, 2);
	}
	CHECK(sent == total);
	raw_read(&f, fd, out, sizeof(out), "\r\n\r\n");
	CHECK(strstr(out, "HTTP/1.1 503") != NULL);
	CHECK(http_server_lingering(f.srv) == 1);
	/* The client closes: the lingering socket goes at once, not after its 2 s. */
	close(fd);
	RUN_UNTIL(&f, http_server_lingering(f.srv) == 0, 1000);
	CHECK(http_server_lingering(f.srv) == 0);
	fixture_fini(&f);
}

/* Issue 11, item 2: the owner's look at a head before its large body. "Authorization: good"
 * passes, "wait" holds the request for the test's verdict, anything else is refused. */
static int check_head(struct http_request *req, const char **msg, void *data)
{
	struct fixture *f = data;
	const char *authz = http_req_header(req, "Authorization");

	f->head_checks++;
	if (authz && !strcmp(authz, "good"))
		return 0;
	if (authz && !strcmp(authz, "wait")) {
		f->head_held = req;
		return HTTP_HEAD_WAIT;
	}
	*msg = "bad credentials";
	return 401;
}

static const struct http_server_opts head_opts = {
	.max_body = 64 << 20, .head_check = check_head, .head_check_min = 100,
};

/* Sends a head announcing len bytes (chunked when len is 0) and some of its body. */
static int send_head(int port, const char *authz, size_t len, size_t send_body)
{
	char head[256], body[4096];
	int fd = raw_connect(port);

	if (fd < 0)
		return -1;
	if (len)
		snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
			 "Content-Length: %zu\r\n\r\n", authz, len);
	else
		snprintf(head, sizeof(head), "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n%zx\r\n", authz, send_body);
	memset(body, 'x', sizeof(body));
	if (write(fd, head, strlen(head)) != (ssize_t)strlen(head) ||
	    (send_body && write(fd, body, send_body) != (ssize_t)send_body)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A bad key announcing 50 MB is refused at its head, with the owner's status and text,
 * before the body arrives: no body memory is held and the connection closes. A good key's
 * large body and any small body are read as before. */
static void test_head_check_refuses(void)
{
	struct fixture f;
	char out[4096];
	int bad, chunked, good, small;

	ASSERT(fixture_init_opts(&f, &head_opts) == 0);
	bad = send_head(f.port, "bad", 50u << 20, 1000);
	ASSERT(bad >= 0);
	raw_read(&f, bad, out, sizeof(out), "error 401");
	CHECK(strstr(out, "HTTP/1.1 401") != NULL);
	CHECK(strstr(out, "Connection: close") != NULL);
	CHECK(f.head_checks == 1);
	/* The client's rest is drained, not kept: a lingering close. */
	CHECK(http_server_lingering(f.srv) == 1);
	RUN_UNTIL(&f, peer_closed(bad) == 1, 1000);
	CHECK(peer_closed(bad) == 1);

	chunked = send_head(f.port, "bad", 0, 200);
	ASSERT(chunked >= 0);
	raw_read(&f, chunked, out, sizeof(out), "error 401");
	CHECK(strstr(out, "HTTP/1.1 401") != NULL);

	good = send_head(f.port, "good", 4000, 4000);
	ASSERT(good >= 0);
	raw_read(&f, good, out, sizeof(out), "len=4000");
	CHECK(strstr(out, "POST /up q=- len=4000") != NULL);

	/* At most head_check_min bytes: nobody looks at the head. */
	small = send_head(f.port, "bad", 100, 100);
	ASSERT(small >= 0);
	raw_read(&f, small, out, sizeof(out), "len=100");
	CHECK(strstr(out, "POST /up q=- len=100") != NULL);
	CHECK(f.head_checks == 3);
	close(bad);
	close(chunked);
	close(good);
	close(small);
	fixture_fini(&f);
}

/* An owner that must ask someone first (the node asks the controller about a key it has
 * not seen): nothing of the body is read until its verdict, which then reads it (0) or
 * refuses it; a connection gone before the verdict leaves a request the verdict frees. */
static void test_head_check_waits(void)
{
	struct fixture f;
	char out[4096];
	int fd;

	ASSERT(fixture_init_opts(&f, &head_opts) == 0);
	fd = send_head(f.port, "wait", 3000, 3000);
	ASSERT(fd >= 0);
	RUN_UNTIL(&f, f.head_held, 1000);
	ASSERT(f.head_held);
	CHECK(f.head_held->body.len == 0);
	RUN_UNTIL(&f, 0, 50);
	CHECK(f.head_held->body.len == 0);
	http_req_head_verdict(f.head_held, 0, NULL);
	f.head_held = NULL;
	raw_read(&f, fd, out, sizeof(out), "len=3000");
	CHECK(strstr(out, "POST /up q=- len=3000") != NULL);
	close(fd);

	fd = send_head(f.port, "wait", 3000, 10);
	ASSERT(fd >= 0);
	RUN_UNTIL(&f, f.head_held, 1000);
	ASSERT(f.head_held);
	http_req_head_verdict(f.head_held, 503, "ask later");
	f.head_held = NULL;
	raw_read(&f, fd, out, sizeof(out), "error 503");
	CHECK(strstr(out, "HTTP/1.1 503") != NULL);
	CHECK(strstr(out, "Retry-After: 1") != NULL);
	close(fd);

	fd = send_head(f.port, "wait", 3000, 10);
	ASSERT(fd >= 0);
	RUN_UNTIL(&f, f.head_held, 1000);
	ASSERT(f.head_held);
	close(fd);
	/* The server (and its connection) goes first: the held request outlives it, and the
	 * verdict frees it. */
	http_server_free(f.srv);
	f.srv = NULL;
	CHECK(http_requests_live() == 1);
	http_req_head_verdict(f.head_held, 0, NULL);
	CHECK(http_requests_live() == 0);
	fixture_fini(&f);
}

/* The before-sleep hook a deferring server's owner installs: it counts the flushes. */
static int flushes;

static void flush_server(struct loop *loop, void *data)
{
	flushes++;
	http_server_flush(data);
}

/* defer_writes: nothing leaves before http_server_flush; then every answer of the turn
 * goes, in order, including those of a client that already closed its sending side. */
static void test_deferred_writes(void)
{
	static const char reqs[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
				   "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_server_opts o = { .max_body = 1024, .defer_writes = true };
	struct fixture f;
	char out[4096];
	char *a, *b;
	int fd;

	ASSERT(fixture_init_opts(&f, &o) == 0);
	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	ASSERT(write(fd, reqs, sizeof(reqs) - 1) == (ssize_t)(sizeof(reqs) - 1));
	/* Answered, but held: no flush yet. */
	raw_read(&f, fd, out, sizeof(out), "never");
	CHECK(out[0] == '\0');
	loop_set_before_sleep(f.loop, flush_server, f.srv);
	raw_read(&f, fd, out, sizeof(out), "GET /b");
	a = strstr(out, "GET /a");
	b = strstr(out, "GET /b");
	CHECK(a && b && a < b);
	CHECK(flushes > 0);
	close(fd);

	/* A request and the client's end of sending in one go: the answer still comes, also
	 * when the server reads the EOF before the turn's flush wrote the answer (the flush
	 * held for 100 ms here; a busy loop does the same). It used to close the connection
	 * at the EOF, its answer unwritten, as nothing was left to answer. */
	loop_set_before_sleep(f.loop, NULL, NULL);
	fd = raw_connect(f.port);
	ASSERT(fd >= 0);
	ASSERT(write(fd, reqs, 28) == 28 && shutdown(fd, SHUT_WR) == 0);
	RUN_UNTIL(&f, 0, 100);
	CHECK(http_server_connections(f.srv) == 1);
	loop_set_before_sleep(f.loop, flush_server, f.srv);
	raw_read(&f, fd, out, sizeof(out), "GET /a");
	CHECK(strstr(out, "HTTP/1.1 200") && strstr(out, "GET /a"));
	close(fd);
	RUN_UNTIL(&f, http_server_connections(f.srv) == 0, 1000);
	CHECK(http_server_connections(f.srv) == 0);
	fixture_fini(&f);
}

static unsigned long loop_iterations;

static void count_iteration(struct loop *loop, void *data)
{
	loop_iterations++;
}

static uint64_t cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/* Sends stderr (where the log goes) to a file; returns the saved stderr. */
static int stderr_to_file(char *path, size_t size)
{
	int fd, saved;

	snprintf(path, size, "/tmp/xwhisk-test-http-%d.log", getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	close(fd);
	return saved;
}

static int count_lines(const char *path, const char *needle)
{
	char line[512];
	FILE *fp = fopen(path, "r");
	int n = 0;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		n += strstr(line, needle) != NULL;
	fclose(fp);
	return n;
}

/* Out of descriptors, the listener pauses instead of spinning, logs once, and serves the
 * waiting clients once descriptors are back. */
static void test_emfile_pauses(void)
{
	const char *req = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
	struct fixture f;
	struct rlimit old, low;
	int clients[3], fill[64], nfill = 0, saved_err, lines;
	char log_path[128];
	uint64_t cpu0, cpu;

	ASSERT(fixture_init(&f) == 0);
	for (int i = 0; i < 3; i++) {
		clients[i] = connect_raw(f.port);
		ASSERT(clients[i] >= 0);
		CHECK(write(clients[i], req, strlen(req)) == (ssize_t)strlen(req));
	}
	saved_err = stderr_to_file(log_path, sizeof(log_path));
	ASSERT(saved_err >= 0);
	/* Use up every descriptor the (lowered) limit leaves. */
	ASSERT(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low = old;
	low.rlim_cur = (rlim_t)dup(0) + 8;
	close((int)low.rlim_cur - 8);
	ASSERT(setrlimit(RLIMIT_NOFILE, &low) == 0);
	while (nfill < 64 && (fill[nfill] = dup(0)) >= 0)
		nfill++;

	loop_iterations = 0;
	loop_set_before_sleep(f.loop, count_iteration, NULL);
	cpu0 = cpu_ms();
	loop_timer_add(f.loop, 500, stop_loop, NULL);
	loop_run(f.loop);
	cpu = cpu_ms() - cpu0;
	loop_set_before_sleep(f.loop, NULL, NULL);

	while (nfill > 0)
		close(fill[--nfill]);
	(void)setrlimit(RLIMIT_NOFILE, &old);
	fflush(stderr);
	dup2(saved_err, 2);
	close(saved_err);
	lines = count_lines(log_path, "accept");
	unlink(log_path);
	fprintf(stderr, "  500 ms out of descriptors: %lu loop iterations, %llu ms CPU, %d log lines\n",
		loop_iterations, (unsigned long long)cpu, lines);
	CHECK(loop_iterations < 50);
	CHECK(cpu < 150);
	CHECK(lines == 1);

	/* Descriptors are back: the three waiting clients are served. */
	RUN_UNTIL(&f, http_server_connections(f.srv) == 3, 2000);
	CHECK(http_server_connections(f.srv) == 3);
	for (int i = 0; i < 3; i++) {
		char buf[256] = "";
		ssize_t n;

		RUN_UNTIL(&f, recv(clients[i], buf, sizeof(buf) - 1, MSG_PEEK | MSG_DONTWAIT) > 0,
			  2000);
		n = recv(clients[i], buf, sizeof(buf) - 1, MSG_DONTWAIT);
		CHECK(n > 0 && !strncmp(buf, "HTTP/1.1 200", 12));
		close(clients[i]);
	}
	fixture_fini(&f);
}

struct parsed {
	int calls, err, status;
	char body[64], type[32];
	size_t nheaders;
};

static void on_parsed(struct http_response *resp, int err, void *arg)
{
	struct parsed *p = arg;
	const char *type;

	p->calls++;
	p->err = err;
	p->status = resp ? resp->status : 0;
	snprintf(p->body, sizeof(p->body), "%.*s", resp ? (int)resp->body.len : 0,
		 resp && resp->body.data ? resp->body.data : "");
	type = resp ? http_header_get(resp->headers, resp->nheaders, "Content-Type") : NULL;
	snprintf(p->type, sizeof(p->type), "%s", type ? type : "");
	p->nheaders = resp ? resp->nheaders : 0;
}

/* The client's parsing from memory (the fuzz targets' way in): in any pieces the same
 * answer; a close-delimited body ends at the close; a cut answer is -EPROTO; a body limit
 * holds. The callback runs exactly once, before the call returns. */
static void test_call_parse(void)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	static const char closed[] = "HTTP/1.1 404 Not Found\r\n\r\ngone";
	static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nhel";

	for (size_t piece = 0; piece < 8; piece++) {
		struct parsed p = { 0 };

		http_call_parse(false, 0, ok, sizeof(ok) - 1, piece, NULL, on_parsed, &p);
		CHECK(p.calls == 1 && p.err == 0 && p.status == 200);
		CHECK_STR(p.body, "hello");
	}
	struct parsed p = { 0 };

	http_call_parse(false, 0, closed, sizeof(closed) - 1, 3, NULL, on_parsed, &p);
	CHECK(p.calls == 1 && p.err == 0 && p.status == 404);
	CHECK_STR(p.body, "gone");
	p = (struct parsed){ 0 };
	http_call_parse(false, 0, cut, sizeof(cut) - 1, 0, NULL, on_parsed, &p);
	CHECK(p.calls == 1 && p.err == -EPROTO);
	p = (struct parsed){ 0 };
	http_call_parse(false, 2, ok, sizeof(ok) - 1, 0, NULL, on_parsed, &p);
	CHECK(p.calls == 1 && p.err == 0);
	CHECK_STR(p.body, "he");
	p = (struct parsed){ 0 };
	http_call_parse(false, 0, "", 0, 0, NULL, on_parsed, &p);
	CHECK(p.calls == 1 && p.err == -ECONNRESET);
}

/* A chunked answer's trailer fields are read and dropped, a long one too, in any pieces:
 * the head's fields stay as they were, and a trailer never reads as one of them. */
static void test_call_trailer(void)
{
	char trailed[1024], pad[700];

	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(trailed, sizeof(trailed),
		 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked"
		 "\r\n\r\n5\r\nhello\r\n0\r\nContent-Type: evil\r\nX-Long: %s\r\n\r\n",
		 pad);
	for (size_t piece = 0; piece < 64; piece += 7) {
		struct parsed p = { 0 };

		http_call_parse(false, 0, trailed, strlen(trailed), piece, NULL, on_parsed, &p);
		CHECK(p.calls == 1 && p.err == 0 && p.status == 200);
		CHECK_STR(p.body, "hello");
		CHECK_STR(p.type, "text/plain");
		CHECK(p.nheaders == 2);
	}
}

/* Names match whatever their case, and only whole names: the first letter's case bit is
 * a shortcut, not the test (@ and ` differ by that bit too). */
static void test_header_get(void)
{
	const struct http_header h[] = {
		{ .name = "content-type", .value = "a" },
		{ .name = "X-Request-ID", .value = "b" },
		{ .name = "@at", .value = "c" },
		{ .name = "Content-Length", .value = "d" },
	};

	CHECK_STR(http_header_get(h, 4, "Content-Type"), "a");
	CHECK_STR(http_header_get(h, 4, "x-request-id"), "b");
	CHECK_STR(http_header_get(h, 4, "CONTENT-LENGTH"), "d");
	CHECK_STR(http_header_get(h, 4, "@AT"), "c");
	CHECK(!http_header_get(h, 4, "`at"));
	CHECK(!http_header_get(h, 4, "Content"));
	CHECK(!http_header_get(h, 4, "content-typ"));
	CHECK(!http_header_get(h, 3, "Content-Length"));
}

int main(void)
{
	RUN(test_header_get);
	RUN(test_roundtrip_keepalive);
	RUN(test_body_too_large);
	RUN(test_client_timeout);
	RUN(test_pipelining_in_order);
	RUN(test_unread_answers_bounded);
	RUN(test_pipeline_limit_holds);
	RUN(test_head_limits);
	RUN(test_malformed_and_chunked);
	RUN(test_streaming);
	RUN(test_refused);
	RUN(test_path_split);
	RUN(test_header_deadline);
	RUN(test_body_memory_cap);
	RUN(test_lingering_close);
	RUN(test_head_check_refuses);
	RUN(test_head_check_waits);
	RUN(test_deferred_writes);
	RUN(test_emfile_pauses);
	RUN(test_call_parse);
	RUN(test_call_trailer);
	TEST_EXIT();
}
