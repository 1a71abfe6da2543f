/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives the real HTTP server and client with fuzz bytes on one event loop, or the
 * client's response parser from memory (harness_parse), shared by the HTTP targets
 * (static functions: one file per target, no extra objects to link).
 *
 * The first input byte is a control byte. Its low 5 bits choose how the bytes are cut
 * into writes (0: all at once, n: pieces of n * 7 bytes, but at most HARNESS_MAX_PIECES,
 * one per loop turn), so reads that end anywhere in a head, a chunk size or a body are
 * tried too; a target may use the top 3 bits. The rest is what the peer sends.
 */
#ifndef XWHISK_FUZZ_HTTP_HARNESS_H
#define XWHISK_FUZZ_HTTP_HARNESS_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "util.h"

/* Bigger inputs are cut here: they fit a socket buffer, and the limits below are smaller. */
#define HARNESS_MAX_INPUT (96 << 10)
/* A connection still open this long after its peer finished is a hang: crash loudly. */
#define HARNESS_HANG_MS 5000
/* An input goes out in at most this many writes (see feeder_init). */
#define HARNESS_MAX_PIECES 4

struct feeder {
	int fd;
	const uint8_t *prefix, *data;
	size_t plen, size, off, step;
	bool shut;
};

/* Not every target uses every helper. */
#define HARNESS_FN static __attribute__((unused))

static struct loop *harness_loop;

HARNESS_FN void harness_setup(void)
{
	if (harness_loop)
		return;
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LEVEL_ERR);
	harness_loop = loop_new();
	if (!harness_loop)
		abort();
}

HARNESS_FN void feeder_init(struct feeder *f, int fd, const char *prefix, const uint8_t *data,
			size_t size)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->prefix = (const uint8_t *)prefix;
	f->plen = prefix ? strlen(prefix) : 0;
	f->step = size && (data[0] & 0x1f) ? (size_t)(data[0] & 0x1f) * 7 : SIZE_MAX;
	f->data = size ? data + 1 : data;
	f->size = size ? size - 1 : 0;
	if (f->size > HARNESS_MAX_INPUT)
		f->size = HARNESS_MAX_INPUT;
	/* At most HARNESS_MAX_PIECES writes: each is a loop turn and a few system calls, and
	 * 7-byte pieces of a 4 KB input made the chunked target 100 times slower (16 pieces
	 * were still most of the time of the HTTP targets). The cut points still move with
	 * the control byte and the input's length. */
	if (f->step < (f->plen + f->size + HARNESS_MAX_PIECES - 1) / HARNESS_MAX_PIECES)
		f->step = (f->plen + f->size + HARNESS_MAX_PIECES - 1) / HARNESS_MAX_PIECES;
}

/* One write of at most step bytes of prefix + data; shuts the write side at the end. */
HARNESS_FN void feeder_turn(struct feeder *f)
{
	size_t total = f->plen + f->size;

	if (f->shut || f->fd < 0)
		return;
	if (f->off < total) {
		size_t n = total - f->off < f->step ? total - f->off : f->step;
		ssize_t w;

		if (f->off < f->plen) {
			if (n > f->plen - f->off)
				n = f->plen - f->off;
			w = write(f->fd, f->prefix + f->off, n);
		} else {
			w = write(f->fd, f->data + (f->off - f->plen), n);
		}
		if (w > 0)
			f->off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EINTR)
			f->off = total; /* the other side is gone */
	}
	if (f->off >= total) {
		(void)shutdown(f->fd, SHUT_WR);
		f->shut = true;
	}
}

/* Reads and drops what the other side wrote; false once it closed. */
HARNESS_FN bool drain(int fd)
{
	char sink[16384];

	for (;;) {
		ssize_t n = read(fd, sink, sizeof(sink));

		if (n > 0)
			continue;
		return n < 0 && (errno == EAGAIN || errno == EINTR);
	}
}

HARNESS_FN void on_hang(struct loop *loop, void *data)
{
	fprintf(stderr, "fuzz harness: %s did not finish within %d ms\n", (const char *)data,
		HARNESS_HANG_MS);
	abort();
}

/* ---- the server side: bytes from a client into http_server ---- */

struct serve_run {
	struct http_server *srv;
	struct feeder feed;
};

HARNESS_FN void serve_turn(struct loop *loop, void *data)
{
	struct serve_run *r = data;

	feeder_turn(&r->feed);
	(void)drain(r->feed.fd);
	if (r->feed.shut && !http_server_connections(r->srv))
		loop_stop(loop);
}

/* Serves the prefix and the input on a socketpair until the server closes it. */
HARNESS_FN void harness_serve(struct http_server *srv, const char *prefix, const uint8_t *data,
			  size_t size)
{
	struct serve_run r = { .srv = srv };
	struct loop_timer *hang;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (http_server_adopt(srv, sv[0], "fuzz:0") < 0)
		abort();
	feeder_init(&r.feed, sv[1], prefix, data, size);
	hang = loop_timer_add(harness_loop, HARNESS_HANG_MS, on_hang, (void *)"the server");
	loop_set_before_sleep(harness_loop, serve_turn, &r);
	loop_run(harness_loop);
	loop_set_before_sleep(harness_loop, NULL, NULL);
	loop_timer_cancel(harness_loop, hang);
	close(sv[1]);
}

/* ---- the client side: bytes from a server into http_client ---- */

enum fetch_flags {
	FETCH_HEAD = 1 << 0,   /* a HEAD request: no body expected */
	FETCH_STREAM = 1 << 1, /* the body through an on_body callback */
	FETCH_LIMIT = 1 << 2,  /* http_call_limit_body(100) */
};

struct fetch_run {
	int lfd;            /* the fake server's listening socket */
	int cfd;            /* its accepted connection, or -1 */
	bool asked;         /* the request arrived: start answering */
	bool done;
	struct feeder feed;
	size_t streamed;
};

/* The fake server's sockets are watched only so that the loop wakes up for them; the
 * work is done in fetch_turn, before each sleep. */
HARNESS_FN void wake_only(struct loop *loop, int fd, uint32_t events, void *data)
{
}

HARNESS_FN void fetch_turn(struct loop *loop, void *data)
{
	struct fetch_run *r = data;

	if (r->cfd < 0) {
		int one = 1;

		r->cfd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		r->feed.fd = r->cfd;
		/* Pieces go out as written: Nagle against the client's delayed ACK would
		 * stall each input for tens of milliseconds. */
		if (r->cfd >= 0)
			(void)setsockopt(r->cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (r->cfd >= 0 && loop_add_fd(loop, r->cfd, EPOLLIN, wake_only, NULL) < 0)
			abort();
	}
	if (r->cfd >= 0) {
		char probe[4096];
		ssize_t n = read(r->cfd, probe, sizeof(probe));

		if (n > 0)
			r->asked = true;
		if (r->asked)
			feeder_turn(&r->feed);
	}
	if (r->done)
		loop_stop(loop);
}

HARNESS_FN void fetch_on_body(const char *data, size_t len, void *arg)
{
	struct fetch_run *r = arg;

	r->streamed += len;
}

HARNESS_FN void fetch_done(struct http_response *resp, int err, void *data)
{
	struct fetch_run *r = data;

	/* What callers do with an answer: look at headers and the body as JSON. */
	if (resp) {
		const char *ct = http_header_get(resp->headers, resp->nheaders, "Content-Type");
		json_t *j = json_parse(resp->body.data ? resp->body.data : "", resp->body.len,
				       NULL, 0);

		(void)ct;
		json_decref(j);
	}
	r->done = true;
}

/* A listening socket on loopback, made once: the pool connects to it for every input. */
HARNESS_FN int fetch_listener(int *port)
{
	static int lfd = -1, lport;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);

	if (lfd >= 0) {
		*port = lport;
		return lfd;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 16) < 0 || getsockname(lfd, (struct sockaddr *)&sin, &sl) < 0)
		abort();
	if (loop_add_fd(harness_loop, lfd, EPOLLIN, wake_only, NULL) < 0)
		abort();
	lport = ntohs(sin.sin_port);
	*port = lport;
	return lfd;
}

/* One call through a fresh pool, answered with the prefix and the input. */
HARNESS_FN void harness_fetch(const char *prefix, const uint8_t *data, size_t size, unsigned flags)
{
	struct fetch_run r = { .cfd = -1 };
	struct loop_timer *hang;
	struct http_pool *pool;
	struct http_call *call;
	int port;

	r.lfd = fetch_listener(&port);
	feeder_init(&r.feed, -1, prefix, data, size);
	/* No idle connections kept: every input starts on a new one. */
	pool = http_pool_new(harness_loop, "127.0.0.1", port, 0);
	if (!pool)
		abort();
	if (flags & FETCH_STREAM)
		call = http_pool_stream(pool, "GET", "/f", NULL, NULL, 0, 0, fetch_on_body,
					fetch_done, &r);
	else
		call = http_pool_call(pool, flags & FETCH_HEAD ? "HEAD" : "POST", "/f",
				      "X-Fuzz: 1\r\n", "{}", 2, 0, fetch_done, &r);
	if (!call)
		abort();
	if (flags & FETCH_LIMIT)
		http_call_limit_body(call, 100);
	hang = loop_timer_add(harness_loop, HARNESS_HANG_MS, on_hang, (void *)"the client");
	loop_set_before_sleep(harness_loop, fetch_turn, &r);
	loop_run(harness_loop);
	loop_set_before_sleep(harness_loop, NULL, NULL);
	loop_timer_cancel(harness_loop, hang);
	http_pool_free(pool);
	if (r.cfd >= 0) {
		/* Reset rather than linger in TIME_WAIT: thousands of inputs a second would
		 * use up the loopback's ports. */
		struct linger reset = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(r.cfd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		loop_del_fd(harness_loop, r.cfd);
		close(r.cfd);
	}
}

/* ---- the client's parser alone: the same bytes from memory (http_call_parse) ---- */

/* An input is parsed in at most this many pieces: each is one parser call, no system call. */
#define HARNESS_MAX_PARSE_PIECES 64

/* One call's answer: the prefix and the input, cut by the control byte as feeder_init cuts
 * them (but in up to HARNESS_MAX_PARSE_PIECES pieces), then the server's close. */
HARNESS_FN void harness_parse(const char *prefix, const uint8_t *data, size_t size, unsigned flags)
{
	static char bytes[HARNESS_MAX_INPUT + 256];
	struct fetch_run r = { .cfd = -1 };
	size_t plen = prefix ? strlen(prefix) : 0, len, step;

	step = size && (data[0] & 0x1f) ? (size_t)(data[0] & 0x1f) * 7 : 0;
	len = size ? size - 1 : 0;
	if (len > HARNESS_MAX_INPUT)
		len = HARNESS_MAX_INPUT;
	if (plen > sizeof(bytes) - HARNESS_MAX_INPUT)
		abort();
	memcpy(bytes, prefix ? prefix : "", plen);
	if (len)
		memcpy(bytes + plen, data + 1, len);
	len += plen;
	if (step && step < (len + HARNESS_MAX_PARSE_PIECES - 1) / HARNESS_MAX_PARSE_PIECES)
		step = (len + HARNESS_MAX_PARSE_PIECES - 1) / HARNESS_MAX_PARSE_PIECES;
	http_call_parse(flags & FETCH_HEAD, flags & FETCH_LIMIT ? 100 : 0, bytes, len, step,
			flags & FETCH_STREAM ? fetch_on_body : NULL, fetch_done, &r);
	if (!r.done) {
		fprintf(stderr, "fuzz harness: http_call_parse returned before its callback\n");
		abort();
	}
}

#endif
