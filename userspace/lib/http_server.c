// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "http.h"
#include "http_head.h"
#include "util.h"
#include "log.h"

#define SWEEP_MS 1000
#define ACCEPT_PAUSE_MS 100   /* out of descriptors: the listener rests this long */
#define ACCEPT_LOG_EVERY_MS 1000
#define BODY_MEMORY_MIN (64u << 20)
#define NO_ROOM_RETRY_S 1
#define NO_ROOM_MSG "The server is busy reading other requests: try again."
#define OUT_OF_MEMORY_MSG "The server is out of memory: try again."
/* Answers a connection may hold unwritten before its next request waits: a client that
 * pipelines and does not read must not grow the server's memory. */
#define OUT_HIGH_WATER (1u << 20)
/* Header fields of one request head, at most: akka-http's max-header-count, which
 * OpenWhisk's controller answers 431 past. */
#define HEADER_FIELDS_MAX 64

struct http_conn {
	struct http_server *srv;
	int fd;
	http_parser parser;
	struct buf in, out;
	struct http_request *cur;         /* being parsed */
	size_t cur_body_held;             /* bytes of srv->body_memory held for cur's body */
	struct http_request *head, *tail; /* waiting to be answered, in arrival order */
	unsigned outstanding;
	size_t header_bytes;
	bool closing;      /* close once the queue is answered and flushed */
	bool linger;       /* at the close, read and drop what the client still sends */
	bool peer_done;    /* the client closed its side: nothing more comes */
	bool dead;         /* closed; freed when no longer busy */
	bool want_out;
	bool read_paused;
	bool head_waiting; /* cur's head awaits http_req_head_verdict: nothing is read */
	bool backlogged;   /* parsing stopped after a request: answers must go out first */
	bool deferred;     /* on srv->deferred: written by http_server_flush */
	struct http_conn *deferred_next;
	unsigned busy;
	uint64_t last_active;
	uint64_t head_deadline; /* loop ms by which the request head must be complete; 0: none */
	char peer[64];
	struct http_conn *prev, *next;
};

struct http_server {
	struct loop *loop;
	struct http_server_opts opts;
	http_handler handler;
	void *data;
	int fd;
	int port;
	struct http_conn *conns;
	struct http_conn *deferred; /* with answers held back until http_server_flush */
	size_t nconns;
	size_t body_memory; /* held by bodies being read (max_body_memory) */
	struct loop_timer *sweep;
	struct loop_timer *accept_resume; /* set while the listener is paused */
	uint64_t accept_logged_ms;        /* the last accept error logged */
	struct lingering *lingers;        /* closed connections still read from */
	unsigned nlinger;
	unsigned long accept_suppressed;  /* errors not logged since */
};


static void conn_update_events(struct http_conn *c);
static void conn_close(struct http_conn *c);
static void conn_flush(struct http_conn *c);
static void conn_write_out(struct http_conn *c);

/* cur's body is no longer being read (dispatched, refused or dropped): its share of the
 * server's body memory goes back. */
static void conn_release_body(struct http_conn *c)
{
	c->srv->body_memory -= c->cur_body_held;
	c->cur_body_held = 0;
}

/* Holds room for cur's body to be want bytes long; false when the server has none. */
static bool conn_hold_body(struct http_conn *c, uint64_t want)
{
	struct http_server *srv = c->srv;

	if (want <= c->cur_body_held)
		return true;
	if (want - c->cur_body_held > srv->opts.max_body_memory - srv->body_memory)
		return false;
	srv->body_memory += want - c->cur_body_held;
	c->cur_body_held = (size_t)want;
	return true;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
	}
}

const char *http_header_get(const struct http_header *h, size_t n, const char *name)
{
	/* Most names differ in their first letter, whatever its case: no call for those. */
	for (size_t i = 0; i < n; i++)
		if (!((h[i].name[0] ^ name[0]) & ~0x20) && !strcasecmp(h[i].name, name))
			return h[i].value;
	return NULL;
}

/* The head read (or cut short by an error): url, path, query and the headers point into
 * the head's text, which moves no more. A missing url is "/". The path and the query are
 * copies of the url's two halves (the url stays as sent), added after room is reserved:
 * they are copied from the text into itself. */
static int head_strings(struct http_request *req)
{
	struct http_head *h = &req->head;
	size_t url_len, path_len, path_off = SIZE_MAX, query_off = SIZE_MAX;
	const char *url, *q;

	if (req->url_off == SIZE_MAX && http_head_piece(h, &req->url_off, "/", 1))
		return -ENOMEM;
	url_len = strlen(h->text.data + req->url_off);
	if (buf_reserve(&h->text, url_len + 2))
		return -ENOMEM;
	url = h->text.data + req->url_off;
	q = memchr(url, '?', url_len);
	path_len = q ? (size_t)(q - url) : url_len;
	if (http_head_piece(h, &path_off, url, path_len) ||
	    (q && http_head_piece(h, &query_off, q + 1, url_len - path_len - 1)) ||
	    http_head_finish(h))
		return -ENOMEM;
	req->url = h->text.data + req->url_off;
	req->path = h->text.data + path_off;
	req->query = q ? h->text.data + query_off : NULL;
	req->headers = h->fields;
	req->nheaders = h->n;
	return 0;
}

/* An answer's head without the handler's fields and the content type: status line,
 * Content-Length, Connection and the CRLFs. */
#define RESP_HEAD_MAX 128
#define RESP_HEADERS_USUAL 500

/* Requests allocated and not yet freed, in every server of the process. */
static size_t requests_live;

size_t http_requests_live(void)
{
	return __atomic_load_n(&requests_live, __ATOMIC_RELAXED);
}

/* A request begun on c now. */
static struct http_request *request_new(const struct http_conn *c)
{
	struct http_request *req = zalloc(sizeof(*req));

	if (!req)
		return NULL;
	__atomic_fetch_add(&requests_live, 1, __ATOMIC_RELAXED);
	req->url_off = SIZE_MAX;
	req->start_us = clock_mono_us();
	req->peer_fd = c->fd;
	str_copy(req->peer, sizeof(req->peer), c->peer);
	return req;
}

static void request_free(struct http_request *req)
{
	if (!req)
		return;
	__atomic_fetch_sub(&requests_live, 1, __ATOMIC_RELAXED);
	http_head_free(&req->head);
	buf_free(&req->body);
	buf_free(&req->resp_headers);
	buf_free(&req->resp);
	free(req);
}

bool http_req_alive(const struct http_request *req)
{
	return req->conn && !req->conn->dead;
}

int http_req_take(struct http_request *req, struct buf *pending)
{
	struct http_conn *c = req->conn;
	const char *rest;
	size_t n;
	int fd;

	if (req->responded)
		return -EBUSY;
	if (!c || c->dead)
		return -EPIPE;
	/* Answers held back for the end of the turn go now: the socket changes hands. */
	c->busy++;
	conn_write_out(c);
	c->busy--;
	if (c->dead) {
		if (!c->busy)
			conn_close(c);
		return -EPIPE;
	}
	if (c->head != req || buf_pending(&c->out))
		return -EBUSY;
	/* A request read whole can be taken while nothing follows it on the connection. */
	if (!req->early && (c->tail != req || c->cur || buf_pending(&c->in)))
		return -EBUSY;
	/* An early one: the parser paused on the head's final LF, which it has not consumed. */
	rest = buf_head(&c->in);
	n = buf_pending(&c->in);
	if (n && *rest == '\n') {
		rest++;
		n--;
	}
	if (n && buf_append(pending, rest, n))
		return -ENOMEM;
	buf_consume(&c->in, buf_pending(&c->in));
	fd = c->fd;
	loop_del_fd(c->srv->loop, fd);
	c->fd = -1;
	c->dead = true;
	c->head = c->tail = NULL;
	c->outstanding = 0;
	req->conn = NULL;
	req->next = NULL;
	/* Inside the handler's dispatch the reader frees the connection when it unwinds. */
	if (!c->busy)
		conn_close(c);
	return fd;
}

void http_req_free(struct http_request *req)
{
	if (req && !req->conn)
		request_free(req);
}

int http_resp_header(struct http_request *req, const char *name, const char *fmt, ...)
{
	va_list ap;
	int err;

	/* Room at once for what an answer usually carries (the CORS set, an id): grown
	 * from empty, it took two allocations. */
	err = req->resp_headers.cap ? 0 : buf_reserve(&req->resp_headers, RESP_HEADERS_USUAL);
	err = err ?: buf_puts(&req->resp_headers, name);
	err = err ?: buf_append(&req->resp_headers, ": ", 2);
	if (err)
		return err;
	va_start(ap, fmt);
	/* Most values are a constant or one string: no printf for those (every answer has
	 * several). */
	if (!strchr(fmt, '%'))
		err = buf_puts(&req->resp_headers, fmt);
	else if (!strcmp(fmt, "%s"))
		err = buf_puts(&req->resp_headers, va_arg(ap, const char *) ?: "(null)");
	else
		err = buf_vprintf(&req->resp_headers, fmt, ap);
	va_end(ap);
	if (err)
		return err;
	return buf_append(&req->resp_headers, "\r\n", 2);
}

void http_resp_send(struct http_request *req, int status, const char *content_type,
		    const void *body, size_t len)
{
	struct http_conn *c = req->conn;
	bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
	struct buf *out;
	int err = 0;

	if (req->responded)
		return;
	req->responded = true;
	if (!c || c->dead) {
		/* The client is gone: nobody waits for this answer. */
		if (!c)
			request_free(req);
		return;
	}
	if (c->srv->opts.answered)
		c->srv->opts.answered(req, status, c->srv->data);
	if (!req->keep_alive)
		c->closing = true;
	/* The first answer in line, with nothing before it still going out, is made where
	 * it will be written from: no buffer of its own to allocate, pass on and free. */
	out = c->head == req && !buf_pending(&c->out) ? &c->out : &req->resp;
	/* Sized once: grown piece by piece, an answer was two or three reallocs. */
	err |= buf_reserve(out, RESP_HEAD_MAX + req->resp_headers.len + len +
					(content_type ? strlen(content_type) : 0));
	err |= buf_puts(out, "HTTP/1.1 ");
	err |= buf_put_uint(out, (unsigned)status);
	err |= buf_append(out, " ", 1);
	err |= buf_puts(out, http_status_text(status));
	err |= buf_append(out, "\r\n", 2);
	if (!no_body) {
		err |= buf_puts(out, "Content-Length: ");
		err |= buf_put_uint(out, len);
		err |= buf_append(out, "\r\n", 2);
	}
	if (content_type && !no_body) {
		err |= buf_puts(out, "Content-Type: ");
		err |= buf_puts(out, content_type);
		err |= buf_append(out, "\r\n", 2);
	}
	if (c->closing)
		err |= buf_puts(out, "Connection: close\r\n");
	if (req->resp_headers.len)
		err |= buf_append(out, req->resp_headers.data, req->resp_headers.len);
	err |= buf_append(out, "\r\n", 2);
	if (!no_body && req->method != HTTP_HEAD && len)
		err |= buf_append(out, body, len);
	if (err) {
		pr_warn("http: out of memory building a response to %s, closing", c->peer);
		c->closing = true;
		buf_reset(out);
	}
	buf_free(&req->resp_headers);
	conn_flush(c);
}

/* Moves answers from the head of the queue to the output, in order; a streaming answer
 * at the head passes what it has so far and holds the queue until it ends. */
static void conn_collect(struct http_conn *c)
{
	while (c->head) {
		struct http_request *req = c->head;

		if (buf_pending(&req->resp) && !buf_pending(&c->out)) {
			/* Nothing else waits to go out: the answer's buffer becomes the output
			 * (a copy of tens of MB spared). */
			struct buf out = c->out;

			c->out = req->resp;
			req->resp = out;
			buf_reset(&req->resp);
		} else if (buf_pending(&req->resp)) {
			if (buf_append(&c->out, buf_head(&req->resp), buf_pending(&req->resp)))
				c->closing = true;
			buf_reset(&req->resp);
		}
		if (!req->responded)
			break;
		c->head = req->next;
		if (!c->head)
			c->tail = NULL;
		c->outstanding--;
		request_free(req);
	}
}

/* Writes what the output holds, as far as the socket takes it (c->busy held). */
static void conn_write_out(struct http_conn *c)
{
	while (buf_pending(&c->out)) {
		ssize_t n = write(c->fd, buf_head(&c->out), buf_pending(&c->out));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_close(c);
			break;
		}
		buf_consume(&c->out, (size_t)n);
		/* A client taking its answers, however slowly, is not idle. */
		c->last_active = loop_now_ms(c->srv->loop);
	}
}

static void conn_parse(struct http_conn *c);

/* conn_parse with c held; false when the connection died meanwhile (it is closed now). */
static bool conn_parse_held(struct http_conn *c)
{
	c->busy++;
	conn_parse(c);
	c->busy--;
	if (!c->dead)
		return true;
	conn_close(c);
	return false;
}

/* Too much asked and not yet taken: max_pipeline requests unanswered, or OUT_HIGH_WATER
 * bytes of answers not yet written to a client that does not read. */
static bool conn_over_backlog(const struct http_conn *c)
{
	return c->outstanding >= c->srv->opts.max_pipeline || buf_pending(&c->out) >= OUT_HIGH_WATER;
}

/* A backlogged connection whose answers went out far enough parses again: true when
 * it may (the parser is let go), false while it is still over. */
static bool conn_backlog_ended(struct http_conn *c)
{
	if (conn_over_backlog(c))
		return false;
	c->backlogged = false;
	http_parser_pause(&c->parser, 0);
	return true;
}

/* Writes the output, then closes the connection if it is done or listens for what it
 * still needs. */
static void conn_write(struct http_conn *c)
{
	c->busy++;
	conn_write_out(c);
	c->busy--;
	if (c->dead) {
		conn_close(c);
		return;
	}
	if (!buf_pending(&c->out) && c->closing && !c->head) {
		/* Every answer is out: a client that has not said it is done may still be
		 * sending. */
		c->linger = !c->peer_done;
		conn_close(c);
		return;
	}
	/* Room again for requests already read; not while a parse is under way (a handler
	 * that answered at once): that parse goes on by itself. */
	if (c->backlogged && !c->busy && conn_backlog_ended(c) && !conn_parse_held(c))
		return;
	conn_update_events(c);
}

static void conn_flush(struct http_conn *c)
{
	conn_collect(c);
	if (!c->srv->opts.defer_writes) {
		conn_write(c);
		return;
	}
	if (!c->deferred && !c->dead) {
		c->deferred = true;
		c->deferred_next = c->srv->deferred;
		c->srv->deferred = c;
	}
}

void http_server_flush(struct http_server *srv)
{
	struct http_conn *c;

	while (srv && (c = srv->deferred)) {
		srv->deferred = c->deferred_next;
		c->deferred = false;
		if (!c->dead)
			conn_write(c);
	}
}

/* Out of the deferred list before it is freed. */
static void conn_undefer(struct http_conn *c)
{
	struct http_conn **pp = &c->srv->deferred;

	if (!c->deferred)
		return;
	while (*pp != c)
		pp = &(*pp)->deferred_next;
	*pp = c->deferred_next;
	c->deferred = false;
}

void http_resp_begin(struct http_request *req, int status, const char *content_type)
{
	struct http_conn *c = req->conn;
	int err = 0;

	req->streaming = true;
	if (!c || c->dead)
		return;
	if (c->srv->opts.answered)
		c->srv->opts.answered(req, status, c->srv->data);
	/* As http_resp_send: the connection ends with this answer (after its last chunk). */
	if (!req->keep_alive)
		c->closing = true;
	err |= buf_printf(&req->resp, "HTTP/1.1 %d %s\r\nTransfer-Encoding: chunked\r\n", status,
			  http_status_text(status));
	if (c->closing)
		err |= buf_puts(&req->resp, "Connection: close\r\n");
	if (content_type)
		err |= buf_printf(&req->resp, "Content-Type: %s\r\n", content_type);
	if (req->resp_headers.len)
		err |= buf_append(&req->resp, req->resp_headers.data, req->resp_headers.len);
	err |= buf_append(&req->resp, "\r\n", 2);
	buf_free(&req->resp_headers);
	if (err)
		c->closing = true;
	conn_flush(c);
}

int http_resp_chunk(struct http_request *req, const void *data, size_t len)
{
	struct http_conn *c = req->conn;
	int err = 0;

	if (!c || c->dead)
		return -EPIPE;
	if (!len)
		return 0;
	err |= buf_printf(&req->resp, "%zx\r\n", len);
	err |= buf_append(&req->resp, data, len);
	err |= buf_append(&req->resp, "\r\n", 2);
	if (err)
		return -ENOMEM;
	conn_flush(c);
	return 0;
}

void http_resp_end(struct http_request *req)
{
	struct http_conn *c = req->conn;

	if (req->responded)
		return;
	req->responded = true;
	if (!c) {
		request_free(req);
		return;
	}
	if (c->dead)
		return;
	if (buf_append(&req->resp, "0\r\n\r\n", 5))
		c->closing = true;
	conn_flush(c);
}

static void conn_update_events(struct http_conn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	c->read_paused = c->closing || c->head_waiting || c->backlogged || conn_over_backlog(c);
	if (!c->read_paused)
		ev |= EPOLLIN;
	/* Held back for http_server_flush: it writes first, and asks only for what is left. */
	if (buf_pending(&c->out) && !c->deferred)
		ev |= EPOLLOUT;
	(void)loop_mod_fd(c->srv->loop, c->fd, ev);
}

static void conn_enqueue(struct http_conn *c, struct http_request *req)
{
	req->conn = c;
	if (c->tail)
		c->tail->next = req;
	else
		c->head = req;
	c->tail = req;
	c->outstanding++;
}

static void conn_dispatch(struct http_conn *c, struct http_request *req)
{
	conn_enqueue(c, req);
	c->srv->handler(req, c->srv->data);
}

static void conn_reject(struct http_conn *c, int status, const char *msg)
{
	struct http_request *req = c->cur;

	conn_release_body(c);
	c->cur = NULL;
	if (!req) {
		req = request_new(c);
		if (!req) {
			conn_close(c);
			return;
		}
	}
	if (!req->path && head_strings(req)) {
		request_free(req);
		conn_close(c);
		return;
	}
	req->error_status = status;
	req->error_msg = msg;
	req->keep_alive = false;
	if (status == 503)
		(void)http_resp_header(req, "Retry-After", "%d", NO_ROOM_RETRY_S);
	c->closing = true;
	conn_dispatch(c, req);
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	/* The first byte of a head: it has header_timeout_ms to be complete (the first
	 * request's deadline runs from the accept). */
	if (!c->head_deadline)
		c->head_deadline = loop_now_ms(c->srv->loop) + c->srv->opts.header_timeout_ms;

	conn_release_body(c);
	request_free(c->cur);
	c->cur = request_new(c);
	if (!c->cur)
		return -1;
	c->header_bytes = 0;
	return 0;
}

static int header_budget(struct http_conn *c, size_t n)
{
	c->header_bytes += n;
	if (c->header_bytes > c->srv->opts.max_header_size) {
		http_parser_pause(&c->parser, 1);
		c->cur->error_status = 431;
	}
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (http_head_piece(&c->cur->head, &c->cur->url_off, at, len))
		return -1;
	return header_budget(c, len);
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	size_t fields = c->cur->head.n;

	if (http_head_field(&c->cur->head, at, len))
		return -1;
	/* A new field: their count is capped too, or "a:\r\n" repeated, nearly free in
	 * max_header_size, would make thousands of slots. */
	if (c->cur->head.n > fields && c->cur->head.n > HEADER_FIELDS_MAX) {
		http_parser_pause(&c->parser, 1);
		c->cur->error_status = 431;
		return 0;
	}
	return header_budget(c, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (http_head_value(&c->cur->head, at, len))
		return -1;
	return header_budget(c, len);
}

/* A body worth a look at the head first (head_check): announced long, or chunked. */
static bool head_needs_check(const struct http_conn *c, const http_parser *p)
{
	const struct http_server_opts *o = &c->srv->opts;

	if (!o->head_check)
		return false;
	if (p->flags & F_CHUNKED)
		return true;
	return p->content_length != ULLONG_MAX && p->content_length > o->head_check_min;
}

/* Holds room for cur's announced body; without room the parser pauses, for a 503. */
static void conn_admit_body(struct http_conn *c, struct http_request *req)
{
	if (!conn_hold_body(c, req->content_length)) {
		/* Refused before a byte of the body is read. */
		req->body_no_room = true;
		http_parser_pause(&c->parser, 1);
	}
}

/* The owner's head_check: on a refusal or a wait the parser pauses before the body. */
static int conn_check_head(struct http_conn *c, struct http_request *req)
{
	const char *msg = NULL;
	int verdict = c->srv->opts.head_check(req, &msg, c->srv->data);

	if (verdict == HTTP_HEAD_WAIT) {
		/* Until the verdict the request is its owner's to hand back (req->conn set). */
		req->head_waiting = true;
		req->conn = c;
		c->head_waiting = true;
		http_parser_pause(&c->parser, 1);
	} else if (verdict) {
		req->error_status = verdict;
		req->error_msg = msg ? msg : http_status_text(verdict);
		http_parser_pause(&c->parser, 1);
	} else {
		conn_admit_body(c, req);
	}
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->cur;

	c->head_deadline = 0;

	if (head_strings(req))
		return -1;
	req->method = (enum http_method)p->method;
	req->keep_alive = http_should_keep_alive(p);
	if (p->content_length != ULLONG_MAX)
		req->content_length = p->content_length;
	if (c->srv->opts.early && !c->head && c->srv->opts.early(req, c->srv->data)) {
		/* The body stays unread; conn_parse hands the request over. */
		req->early = true;
		req->keep_alive = false;
		http_parser_pause(p, 1);
		return 0;
	}
	if (req->content_length > c->srv->opts.max_body) {
		req->body_too_large = true;
		http_parser_pause(p, 1);
		return 0;
	}
	if (head_needs_check(c, p))
		return conn_check_head(c, req);
	conn_admit_body(c, req);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->cur;

	if (req->body.len + len > c->srv->opts.max_body) {
		req->body_too_large = true;
		http_parser_pause(p, 1);
		return 0;
	}
	/* A chunked body announces no length: it holds room as it grows. */
	if (!conn_hold_body(c, req->body.len + len)) {
		req->body_no_room = true;
		http_parser_pause(p, 1);
		return 0;
	}
	return buf_append(&req->body, at, len) ? -1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *req = c->cur;

	/* Read whole: the handler has it now, and the pipeline limit bounds those. */
	conn_release_body(c);
	c->cur = NULL;
	conn_dispatch(c, req);
	/* The next request in the buffer waits for this one's room (conn_parse resumes). */
	if (!c->dead && conn_over_backlog(c)) {
		c->backlogged = true;
		http_parser_pause(p, 1);
	}
	return 0;
}

/* Constant: servers are made on several threads while others parse. */
static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* Our callbacks fail only when memory runs out: the server's trouble, not a bad request. */
static bool parser_out_of_memory(const http_parser *p)
{
	enum http_errno e = HTTP_PARSER_ERRNO(p);

	return e >= HPE_CB_message_begin && e <= HPE_CB_chunk_complete;
}

static void conn_parse(struct http_conn *c)
{
	size_t n;

	while (buf_pending(&c->in) && !c->dead && !c->closing) {
		n = http_parser_execute(&c->parser, &parser_settings, buf_head(&c->in),
					buf_pending(&c->in));
		buf_consume(&c->in, n);
		if (c->dead)
			return;
		if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED && c->cur && c->cur->early) {
			struct http_request *req = c->cur;

			/* The connection ends with this request: nothing more is parsed. */
			c->cur = NULL;
			c->closing = true;
			conn_dispatch(c, req);
			return;
		}
		if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED && c->head_waiting)
			return; /* until http_req_head_verdict */
		if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED && c->backlogged) {
			if (!conn_backlog_ended(c))
				return; /* until conn_write takes some out */
			continue;
		}
		if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED) {
			/* Paused for an oversized head or body, or a head refused: answer it and
			 * stop reading. */
			if (c->cur && c->cur->error_status && c->cur->error_msg)
				conn_reject(c, c->cur->error_status, c->cur->error_msg);
			else if (c->cur && c->cur->body_too_large)
				conn_reject(c, 413, "Request body too large");
			else if (c->cur && c->cur->body_no_room)
				conn_reject(c, 503, NO_ROOM_MSG);
			else
				conn_reject(c, 431, "Request header fields too large");
			return;
		}
		if (parser_out_of_memory(&c->parser)) {
			conn_reject(c, 503, OUT_OF_MEMORY_MSG);
			return;
		}
		if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK) {
			conn_reject(c, 400, http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
			return;
		}
		if (c->parser.upgrade) {
			conn_reject(c, 400, "Protocol upgrade is not supported here");
			return;
		}
		if (n == 0)
			break;
	}
}

void http_req_head_verdict(struct http_request *req, int status, const char *msg)
{
	struct http_conn *c = req->conn;

	if (!req->head_waiting)
		return;
	req->head_waiting = false;
	if (!c) {
		request_free(req); /* the client went away meanwhile */
		return;
	}
	req->conn = NULL;
	c->head_waiting = false;
	if (c->dead)
		return; /* closed while busy: the reader frees it with cur */
	c->busy++;
	if (status) {
		conn_reject(c, status, msg ? msg : http_status_text(status));
	} else {
		http_parser_pause(&c->parser, 0);
		conn_admit_body(c, req);
		if (req->body_no_room)
			conn_reject(c, 503, NO_ROOM_MSG);
		else
			conn_parse(c); /* the head's last byte and what followed it wait */
	}
	c->busy--;
	if (c->dead) {
		conn_close(c);
		return;
	}
	conn_update_events(c);
}

static void conn_read(struct http_conn *c)
{
	for (int i = 0; i < 4 && !c->dead && !c->read_paused; i++) {
		bool filled;
		ssize_t n = buf_read(&c->in, c->fd, &filled);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_close(c);
			return;
		}
		if (n == 0) {
			/* Half-close: answer what was asked, then close. A stream never ends on
			 * its own, so under one the peer's EOF means nobody listens. */
			c->closing = true;
			c->peer_done = true;
			if (c->head ? c->head->streaming : !buf_pending(&c->out))
				conn_close(c);
			else
				conn_update_events(c);
			return;
		}
		c->last_active = loop_now_ms(c->srv->loop);
		if (!conn_parse_held(c))
			return;
		conn_update_events(c);
		if (!filled)
			return;
	}
}

static void conn_on_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct http_conn *c = data;

	(void)loop;
	(void)fd;
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		conn_close(c);
		return;
	}
	if (events & EPOLLOUT) {
		conn_collect(c);
		conn_write(c);
	}
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP)))
		conn_read(c);
}

/*
 * A lingering close (as nginx's): after the last answer of a connection we end, the client
 * may still be sending a body we did not read (a 413 answered at the head). Closing with
 * unread bytes makes the kernel send a reset, which can reach the client before it has
 * read our answer. So the write side is shut and what still comes is read and dropped,
 * until the client closes, LINGER_MS pass or LINGER_MAX bytes came.
 */
#define LINGER_MS 2000
#define LINGER_MAX (4u << 20)
/* Lingering sockets at once per server, beyond which a close is a plain one: a client
 * that makes us linger must not pile up descriptors. */
#define LINGER_CONNS_MAX 256

struct lingering {
	struct http_server *srv;
	int fd;
	struct lingering *next;
	size_t drained;
	struct loop_timer *timer;
};

static void linger_end(struct lingering *l)
{
	struct http_server *srv = l->srv;
	struct lingering **pp = &srv->lingers;

	while (*pp != l)
		pp = &(*pp)->next;
	*pp = l->next;
	srv->nlinger--;
	loop_del_fd(srv->loop, l->fd);
	close(l->fd);
	if (l->timer)
		loop_timer_cancel(srv->loop, l->timer);
	free(l);
}

static void on_linger_read(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct lingering *l = data;
	char sink[16384];

	for (;;) {
		ssize_t n = read(fd, sink, sizeof(sink));

		if (n > 0 && (l->drained += (size_t)n) < LINGER_MAX)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		linger_end(l);
		return;
	}
}

static void on_linger_over(struct loop *loop, void *data)
{
	struct lingering *l = data;

	l->timer = NULL;
	linger_end(l);
}

/* Takes fd over; false (fd untouched) when it cannot linger. */
static bool linger_start(struct http_server *srv, int fd)
{
	struct lingering *l;

	if (srv->nlinger >= LINGER_CONNS_MAX)
		return false;
	l = calloc(1, sizeof(*l));
	if (!l || shutdown(fd, SHUT_WR) < 0)
		goto fail;
	l->srv = srv;
	l->fd = fd;
	l->timer = loop_timer_add(srv->loop, LINGER_MS, on_linger_over, l);
	if (!l->timer)
		goto fail;
	if (loop_add_fd(srv->loop, fd, EPOLLIN, on_linger_read, l)) {
		loop_timer_cancel(srv->loop, l->timer);
		goto fail;
	}
	l->next = srv->lingers;
	srv->lingers = l;
	srv->nlinger++;
	return true;
fail:
	free(l);
	return false;
}

unsigned http_server_lingering(const struct http_server *srv)
{
	return srv->nlinger;
}

static void conn_close(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	struct http_request *req, *next;

	if (!c->dead) {
		c->dead = true;
		loop_del_fd(srv->loop, c->fd);
		if (!c->linger || !linger_start(srv, c->fd))
			close(c->fd);
		c->fd = -1;
	}
	if (c->busy)
		return;
	for (req = c->head; req; req = next) {
		next = req->next;
		req->next = NULL;
		if (req->responded)
			request_free(req);
		else
			req->conn = NULL; /* the handler still owns it and frees it on send */
	}
	conn_undefer(c);
	conn_release_body(c);
	if (c->cur && c->cur->head_waiting)
		c->cur->conn = NULL; /* its owner hands it back: http_req_head_verdict frees it */
	else
		request_free(c->cur);
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	free(c);
}

/* At most one line a second, saying how many were not written. */
static void server_log_accept_error(struct http_server *srv, int err, bool paused)
{
	uint64_t now = loop_now_ms(srv->loop);

	if (srv->accept_logged_ms && now - srv->accept_logged_ms < ACCEPT_LOG_EVERY_MS) {
		srv->accept_suppressed++;
		return;
	}
	if (srv->accept_suppressed)
		pr_warn("http: accept on :%d: %s%s (%lu more accept errors since the last line)",
			srv->port, strerror(err), paused ? "; the listener pauses" : "",
			srv->accept_suppressed);
	else
		pr_warn("http: accept on :%d: %s%s", srv->port, strerror(err),
			paused ? "; the listener pauses" : "");
	srv->accept_logged_ms = now;
	srv->accept_suppressed = 0;
}

static void server_accept_resume(struct loop *loop, void *data)
{
	struct http_server *srv = data;

	srv->accept_resume = NULL;
	if (srv->fd >= 0)
		(void)loop_mod_fd(loop, srv->fd, EPOLLIN);
}

/* Out of descriptors (or memory): the pending connection stays in the backlog and the
 * listen socket stays readable, so polling it again at once would spin. Stop polling it
 * for a while; connections closing in the meantime give descriptors back. */
static void server_accept_pause(struct http_server *srv)
{
	if (srv->accept_resume)
		return;
	(void)loop_mod_fd(srv->loop, srv->fd, 0);
	srv->accept_resume = loop_timer_add(srv->loop, ACCEPT_PAUSE_MS, server_accept_resume, srv);
	if (!srv->accept_resume)
		(void)loop_mod_fd(srv->loop, srv->fd, EPOLLIN);
}

static void server_on_accept(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct http_server *srv = data;

	(void)events;
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[INET6_ADDRSTRLEN] = "?", port[8] = "?", peer[64];
		int cfd, one = 1;

		cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			int err = errno;

			if (err == EINTR || err == ECONNABORTED)
				continue;
			if (err == EAGAIN)
				return;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
				server_accept_pause(srv);
				server_log_accept_error(srv, err, true);
			} else {
				server_log_accept_error(srv, err, false);
			}
			return;
		}
		(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		(void)getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
				  NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(peer, sizeof(peer), "%s:%s", host, port);
		if (http_server_adopt(srv, cfd, peer) < 0)
			close(cfd);
	}
}

int http_server_adopt(struct http_server *srv, int fd, const char *peer)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	int err;

	if (!c)
		return -ENOMEM;
	c->srv = srv;
	c->fd = fd;
	c->last_active = loop_now_ms(srv->loop);
	c->head_deadline = c->last_active + srv->opts.header_timeout_ms;
	str_copy(c->peer, sizeof(c->peer), peer);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	err = loop_add_fd(srv->loop, fd, EPOLLIN, conn_on_event, c);
	if (err < 0) {
		free(c);
		return err;
	}
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	return 0;
}

/* Often enough that a short header deadline is kept to within a quarter of it. */
static uint64_t server_sweep_ms(const struct http_server *srv)
{
	uint64_t ms = srv->opts.header_timeout_ms / 4;

	return ms < 50 ? 50 : ms > SWEEP_MS ? SWEEP_MS : ms;
}

static void server_sweep(struct loop *loop, void *data)
{
	struct http_server *srv = data;
	uint64_t now = loop_now_ms(loop);
	struct http_conn *c, *next;

	srv->sweep = NULL;
	for (c = srv->conns; c; c = next) {
		next = c->next;
		/* A connection waiting on its handler is not idle. */
		if (!c->head && now - c->last_active > srv->opts.idle_timeout_ms)
			conn_close(c);
		/* Slow or absent request heads (slowloris, idle connections held open to use up
		 * the node's descriptors) are cut; not while we stopped reading ourselves. */
		else if (c->head_deadline && now >= c->head_deadline && !c->read_paused)
			conn_close(c);
	}
	srv->sweep = loop_timer_add(loop, server_sweep_ms(srv), server_sweep, srv);
}

struct http_server *http_server_new(struct loop *loop, const struct http_server_opts *opts,
				    http_handler handler, void *data)
{
	struct http_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	srv->loop = loop;
	srv->opts = *opts;
	if (!srv->opts.max_body)
		srv->opts.max_body = 1 << 20;
	if (!srv->opts.max_header_size)
		srv->opts.max_header_size = 64 << 10;
	if (!srv->opts.idle_timeout_ms)
		srv->opts.idle_timeout_ms = 75000;
	if (!srv->opts.header_timeout_ms)
		srv->opts.header_timeout_ms = 10000;
	if (!srv->opts.max_pipeline)
		srv->opts.max_pipeline = 64;
	if (!srv->opts.head_check_min)
		srv->opts.head_check_min = HTTP_HEAD_CHECK_MIN;
	if (!srv->opts.max_body_memory)
		srv->opts.max_body_memory = srv->opts.max_body > BODY_MEMORY_MIN / 2
						    ? 2 * srv->opts.max_body
						    : BODY_MEMORY_MIN;
	srv->handler = handler;
	srv->data = data;
	srv->fd = -1;
	return srv;
}

int http_server_listen(struct http_server *srv, const char *addr, bool reuseport)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[256], *colon;
	const char *port;
	int fd = -1, one = 1, err;

	str_copy(host, sizeof(host), addr);
	colon = strrchr(host, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	port = colon + 1;
	err = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (err) {
		err = -EINVAL;
		goto out;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		err = -errno;
		goto out;
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
		err = -errno;
		goto out;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							   : ((struct sockaddr_in *)&ss)->sin_port);
	err = loop_add_fd(srv->loop, fd, EPOLLIN, server_on_accept, srv);
	if (err)
		goto out;
	srv->fd = fd;
	fd = -1;
	if (!srv->sweep)
		srv->sweep = loop_timer_add(srv->loop, server_sweep_ms(srv), server_sweep, srv);
out:
	if (fd >= 0)
		close(fd);
	if (res)
		freeaddrinfo(res);
	return err;
}

int http_server_port(struct http_server *srv)
{
	return srv->port;
}

size_t http_server_connections(struct http_server *srv)
{
	return srv->nconns;
}

size_t http_server_unsent_bytes(const struct http_server *srv)
{
	size_t n = 0;

	for (const struct http_conn *c = srv->conns; c; c = c->next) {
		n += buf_pending(&c->out);
		for (const struct http_request *req = c->head; req; req = req->next)
			n += buf_pending(&req->resp);
	}
	return n;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv->conns);
	while (srv->lingers)
		linger_end(srv->lingers);
	if (srv->fd >= 0) {
		loop_del_fd(srv->loop, srv->fd);
		close(srv->fd);
	}
	loop_timer_cancel(srv->loop, srv->sweep);
	loop_timer_cancel(srv->loop, srv->accept_resume);
	free(srv);
}

void http_server_close_listener(struct http_server *srv)
{
	if (!srv || srv->fd < 0)
		return;
	loop_del_fd(srv->loop, srv->fd);
	close(srv->fd);
	srv->fd = -1;
	loop_timer_cancel(srv->loop, srv->accept_resume);
	srv->accept_resume = NULL;
}

void http_request_id(const struct http_request *req, char *out, size_t size)
{
	const char *given = http_req_header(req, "X-Request-ID");
	size_t n = given ? strlen(given) : 0;
	bool ok = n > 0 && n < size && strncmp(given, "sid_", 4);
	json_t *utf8;

	/* Printable (spaces too) and valid UTF-8: it goes into a JSON string and a header. */
	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)given[i] >= 0x20 && given[i] != 0x7f;
	if (ok) {
		utf8 = json_stringn(given, n);
		ok = utf8 != NULL;
		json_decref(utf8);
	}
	if (ok)
		memcpy(out, given, n + 1);
	else
		random_alnum(out, size > 33 ? 32 : size - 1);
}
