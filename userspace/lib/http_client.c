// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "http_head.h"
#include "log.h"
#include "util.h"

#define CLIENT_READ_CHUNK 65536
/* Idle connections older than this are dropped rather than reused: servers close idle
 * keep-alive connections and a reused dead one costs a retry. */
#define IDLE_MAX_AGE_MS 20000

/* A request's head without method, target, host and extra fields: the request line's and
 * Host's words, Content-Length and the CRLFs. */
#define REQ_HEAD_MAX 96

struct http_cconn {
	struct http_pool *pool;
	int fd;
	bool connecting;
	bool reused;
	bool done;
	bool keep_alive;
	bool was_idle; /* the pool's first-idle hook has seen it */
	size_t received;
	uint64_t idle_since;
	http_parser parser;
	struct buf out;
	struct http_call *call;
	struct http_cconn *next; /* idle list */
};

struct http_call {
	struct http_pool *pool;
	struct http_cconn *conn;
	http_call_cb cb;
	void *data;
	struct loop_timer *timer;
	struct http_response resp;
	struct buf req; /* kept whole so a stale keep-alive connection can be retried once */
	http_body_cb on_body;
	size_t max_body; /* 0: no limit */
	bool head_method;
	bool retried;
	bool in_parse;  /* inside the parser's callbacks: a cancel must wait */
	bool cancelled;
};

struct http_pool {
	struct loop *loop;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char hostport[300];
	unsigned max_idle, nidle;
	struct http_cconn *idle;
	unsigned active; /* calls not finished yet */
	bool dying;      /* freed by its owner: goes when the last call ends */
	http_idle_hook first_idle;
	void *first_idle_data;
};

static void pool_destroy(struct http_pool *pool);

static int call_start(struct http_call *call);

static void response_reset(struct http_response *r)
{
	http_head_free(&r->head);
	buf_free(&r->body);
	*r = (struct http_response){ 0 };
}

static void call_free(struct http_call *call)
{
	struct http_pool *pool;

	if (!call)
		return;
	pool = call->pool;
	if (call->timer)
		loop_timer_cancel(pool->loop, call->timer);
	response_reset(&call->resp);
	buf_free(&call->req);
	free(call);
	if (--pool->active == 0 && pool->dying)
		pool_destroy(pool);
}

static void cconn_close(struct http_cconn *c)
{
	if (c->fd >= 0) {
		loop_del_fd(c->pool->loop, c->fd);
		close(c->fd);
	}
	buf_free(&c->out);
	free(c);
}

static void pool_unlink_idle(struct http_pool *pool, struct http_cconn *c)
{
	for (struct http_cconn **pp = &pool->idle; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			pool->nidle--;
			return;
		}
	}
}

/* Ends the call: the connection goes back to the pool when it can be reused. */
static void call_finish(struct http_call *call, int err)
{
	struct http_cconn *c = call->conn;
	struct http_pool *pool = call->pool;

	if (call->timer) {
		loop_timer_cancel(pool->loop, call->timer);
		call->timer = NULL;
	}
	if (c) {
		c->call = NULL;
		call->conn = NULL;
		if (!err && c->keep_alive && pool->nidle < pool->max_idle && !pool->dying) {
			c->reused = true;
			if (pool->first_idle && !c->was_idle)
				pool->first_idle(c->fd, pool->first_idle_data);
			c->was_idle = true;
			c->idle_since = loop_now_ms(pool->loop);
			c->next = pool->idle;
			pool->idle = c;
			pool->nidle++;
			(void)loop_mod_fd(pool->loop, c->fd, EPOLLIN);
		} else {
			cconn_close(c);
		}
	}
	call->cb(err ? NULL : &call->resp, err, call->data);
	call_free(call);
}

static void call_fail(struct http_call *call, int err)
{
	struct http_cconn *c = call->conn;

	/* A reused connection that the server had already closed: nothing reached it. */
	if (c && c->reused && !c->received && !call->retried &&
	    (err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN)) {
		call->retried = true;
		c->call = NULL;
		call->conn = NULL;
		cconn_close(c);
		response_reset(&call->resp);
		if (call_start(call) == 0)
			return;
	}
	if (call->conn)
		call->conn->keep_alive = false;
	call_finish(call, err);
}

static void call_on_timeout(struct loop *loop, void *data)
{
	struct http_call *call = data;

	(void)loop;
	call->timer = NULL;
	if (call->conn)
		call->conn->keep_alive = false;
	call_finish(call, -ETIMEDOUT);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_cconn *c = p->data;

	return http_head_field(&c->call->resp.head, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_cconn *c = p->data;

	return http_head_value(&c->call->resp.head, at, len);
}

static int on_headers_complete(http_parser *p)
{
	struct http_cconn *c = p->data;
	struct http_response *r = &c->call->resp;

	if (http_head_finish(&r->head))
		return -1;
	r->headers = r->head.fields;
	r->nheaders = r->head.n;
	r->status = (int)p->status_code;
	c->keep_alive = http_should_keep_alive(p);
	return c->call->head_method ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_cconn *c = p->data;
	struct http_call *call = c->call;

	call->resp.body_total += len;
	if (call->on_body) {
		if (!call->cancelled)
			call->on_body(at, len, call->data);
		return 0;
	}
	if (call->max_body && call->resp.body.len + len > call->max_body)
		len = call->max_body > call->resp.body.len ? call->max_body - call->resp.body.len : 0;
	return len && buf_append(&call->resp.body, at, len) ? -1 : 0;
}

void http_call_limit_body(struct http_call *call, size_t max)
{
	if (call)
		call->max_body = max;
}

static int on_message_complete(http_parser *p)
{
	struct http_cconn *c = p->data;

	c->done = true;
	c->keep_alive = c->keep_alive && http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

/* Constant: worker threads make pools while others parse. */
static const http_parser_settings client_settings = {
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* What the connection read: n bytes, or its end (n == 0). False once the call ended. */
static bool cconn_take(struct http_cconn *c, const char *chunk, size_t n)
{
	struct http_call *call = c->call;
	size_t used;

	if (n == 0) {
		/* EOF completes a close-delimited body; otherwise the server hung up. */
		if (c->received) {
			http_parser_execute(&c->parser, &client_settings, NULL, 0);
			if (c->done) {
				c->keep_alive = false;
				call_finish(call, 0);
				return false;
			}
		}
		call_fail(call, c->received ? -EPROTO : -ECONNRESET);
		return false;
	}
	c->received += n;
	call->in_parse = true;
	used = http_parser_execute(&c->parser, &client_settings, chunk, n);
	call->in_parse = false;
	if (call->cancelled) {
		/* Cancelled from its own body callback: finish it quietly now. */
		c->call = NULL;
		cconn_close(c);
		call_free(call);
		return false;
	}
	if (c->done) {
		if (used != n)
			c->keep_alive = false; /* bytes after the response: do not reuse */
		call_finish(call, 0);
		return false;
	}
	if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
		c->keep_alive = false;
		call_finish(call, -EPROTO);
		return false;
	}
	return true;
}

static void cconn_read(struct http_cconn *c)
{
	char chunk[CLIENT_READ_CHUNK];

	for (;;) {
		ssize_t n = read(c->fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				call_fail(c->call, -errno);
			return;
		}
		if (!cconn_take(c, chunk, (size_t)n) || (size_t)n < sizeof(chunk))
			return;
	}
}

/* Writes what it can; a hard error is left for the socket's error event to report, so
 * that no caller ever sees its call finish underneath it. */
static void cconn_write(struct http_cconn *c)
{
	while (buf_pending(&c->out)) {
		ssize_t n = write(c->fd, buf_head(&c->out), buf_pending(&c->out));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				buf_reset(&c->out);
			break;
		}
		buf_consume(&c->out, (size_t)n);
	}
	(void)loop_mod_fd(c->pool->loop, c->fd,
			  buf_pending(&c->out) ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static void cconn_on_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct http_cconn *c = data;

	(void)loop;
	if (!c->call) {
		/* An idle connection spoke or closed: it is of no further use. */
		pool_unlink_idle(c->pool, c);
		cconn_close(c);
		return;
	}
	if ((c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) ||
	    ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN))) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		(void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
		if (soerr || (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN))) {
			call_fail(c->call, soerr ? -soerr : -ECONNRESET);
			return;
		}
		c->connecting = false;
	}
	if (events & EPOLLOUT)
		cconn_write(c);
	if (events & EPOLLIN)
		cconn_read(c);
}

static struct http_cconn *pool_connect(struct http_pool *pool)
{
	struct http_cconn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->pool = pool;
	c->fd = socket(pool->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&pool->addr, pool->addrlen) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		c->connecting = true;
	}
	if (loop_add_fd(pool->loop, c->fd, EPOLLIN | EPOLLOUT, cconn_on_event, c) < 0)
		goto fail;
	return c;
fail:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

static struct http_cconn *pool_take(struct http_pool *pool)
{
	uint64_t now = loop_now_ms(pool->loop);

	while (pool->idle) {
		struct http_cconn *c = pool->idle;

		pool->idle = c->next;
		pool->nidle--;
		c->next = NULL;
		if (now - c->idle_since < IDLE_MAX_AGE_MS)
			return c;
		cconn_close(c);
	}
	return pool_connect(pool);
}

/* The connection will carry call's request and parse its response. */
static void cconn_attach(struct http_cconn *c, struct http_call *call)
{
	c->call = call;
	call->conn = c;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;
	c->done = false;
	c->received = 0;
	c->keep_alive = true;
}

static int call_start(struct http_call *call)
{
	struct http_cconn *c = pool_take(call->pool);

	if (!c)
		return -ECONNREFUSED;
	cconn_attach(c, call);
	buf_reset(&c->out);
	if (buf_append(&c->out, call->req.data, call->req.len)) {
		c->call = NULL;
		call->conn = NULL;
		cconn_close(c);
		return -ENOMEM;
	}
	if (c->connecting)
		(void)loop_mod_fd(call->pool->loop, c->fd, EPOLLIN | EPOLLOUT);
	else
		cconn_write(c);
	return 0;
}

struct http_call *http_pool_call(struct http_pool *pool, const char *method, const char *target,
				 const char *extra_headers, const void *body, size_t len,
				 unsigned timeout_ms, http_call_cb cb, void *data)
{
	return http_pool_stream(pool, method, target, extra_headers, body, len, timeout_ms, NULL,
				cb, data);
}

struct http_call *http_pool_stream(struct http_pool *pool, const char *method, const char *target,
				   const char *extra_headers, const void *body, size_t len,
				   unsigned timeout_ms, http_body_cb on_body, http_call_cb cb,
				   void *data)
{
	struct http_call *call = zalloc(sizeof(*call));
	int err = 0;

	if (!call)
		return NULL;
	call->on_body = on_body;
	call->pool = pool;
	pool->active++;
	call->cb = cb;
	call->data = data;
	call->head_method = !strcmp(method, "HEAD");
	/* Sized once: grown piece by piece, a /run request was three reallocs. */
	err |= buf_reserve(&call->req, REQ_HEAD_MAX + strlen(method) + strlen(target) +
					       strlen(pool->hostport) +
					       (extra_headers ? strlen(extra_headers) : 0) + len);
	err |= buf_puts(&call->req, method);
	err |= buf_append(&call->req, " ", 1);
	err |= buf_puts(&call->req, target);
	err |= buf_puts(&call->req, " HTTP/1.1\r\nHost: ");
	err |= buf_puts(&call->req, pool->hostport);
	err |= buf_append(&call->req, "\r\n", 2);
	if (body || strcmp(method, "GET")) {
		err |= buf_puts(&call->req, "Content-Length: ");
		err |= buf_put_uint(&call->req, len);
		err |= buf_append(&call->req, "\r\n", 2);
	}
	if (extra_headers)
		err |= buf_puts(&call->req, extra_headers);
	err |= buf_append(&call->req, "\r\n", 2);
	if (len)
		err |= buf_append(&call->req, body, len);
	if (err || call_start(call)) {
		call_free(call);
		return NULL;
	}
	if (timeout_ms)
		call->timer = loop_timer_add(pool->loop, timeout_ms, call_on_timeout, call);
	return call;
}

void http_call_parse(bool head, size_t max_body, const void *data, size_t len, size_t piece,
		     http_body_cb on_body, http_call_cb cb, void *arg)
{
	/* A pool that keeps nothing: the call's end frees its connection (no descriptor). */
	struct http_pool pool = { .active = 1 };
	struct http_call *call = calloc(1, sizeof(*call));
	struct http_cconn *c = calloc(1, sizeof(*c));
	const char *p = data;
	bool going = true;

	if (!call || !c) {
		free(call);
		free(c);
		cb(NULL, -ENOMEM, arg);
		return;
	}
	*call = (struct http_call){ .pool = &pool, .cb = cb, .data = arg, .on_body = on_body,
				    .max_body = max_body, .head_method = head };
	*c = (struct http_cconn){ .pool = &pool, .fd = -1 };
	cconn_attach(c, call);
	for (size_t off = 0; going && off < len; off += piece ? piece : len)
		going = cconn_take(c, p + off, piece && len - off > piece ? piece : len - off);
	if (going)
		(void)cconn_take(c, NULL, 0);
}

void http_call_cancel(struct http_call *call)
{
	if (!call)
		return;
	if (call->in_parse) {
		call->cancelled = true;
		return;
	}
	if (call->conn) {
		call->conn->call = NULL;
		cconn_close(call->conn);
	}
	call_free(call);
}

struct http_pool *http_pool_new(struct loop *loop, const char *host, int port, unsigned max_idle)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	struct http_pool *pool;
	char portstr[8];

	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &res))
		return NULL;
	pool = calloc(1, sizeof(*pool));
	if (!pool) {
		freeaddrinfo(res);
		return NULL;
	}
	pool->loop = loop;
	memcpy(&pool->addr, res->ai_addr, res->ai_addrlen);
	pool->addrlen = res->ai_addrlen;
	pool->max_idle = max_idle;
	snprintf(pool->hostport, sizeof(pool->hostport), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
		 host, port);
	freeaddrinfo(res);
	return pool;
}

void http_pool_on_first_idle(struct http_pool *pool, http_idle_hook hook, void *data)
{
	pool->first_idle = hook;
	pool->first_idle_data = data;
}

static void pool_destroy(struct http_pool *pool)
{
	while (pool->idle) {
		struct http_cconn *c = pool->idle;

		pool->idle = c->next;
		cconn_close(c);
	}
	free(pool);
}

void http_pool_free(struct http_pool *pool)
{
	if (!pool)
		return;
	/* Calls still running keep the pool until they end; their callbacks still run. */
	pool->dying = true;
	if (!pool->active)
		pool_destroy(pool);
	else
		while (pool->idle) {
			struct http_cconn *c = pool->idle;

			pool->idle = c->next;
			pool->nidle--;
			cconn_close(c);
		}
}
