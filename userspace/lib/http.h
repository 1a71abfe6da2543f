/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 on the event loop, parsed by libhttp-parser: a server with keep-alive
 * and pipelining (responses leave in request order even when handlers answer
 * asynchronously) and a client with pooled keep-alive connections.
 */
#ifndef XWHISK_HTTP_H
#define XWHISK_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "loop.h"

struct http_header {
	char *name;
	char *value;
	/* private: where name and value begin in the head's text while it is read (it may
	 * move until then; http_head.h) */
	size_t name_off, value_off;
};

#define HTTP_HEAD_INLINE_FIELDS 12

/* A head's strings in one block, as it is read (http_head.h). */
struct http_head {
	struct buf text;
	struct http_header *fields; /* inline_fields until a head has more */
	size_t n, cap;
	bool in_value; /* the last piece was a value's */
	bool whole;    /* http_head_finish ran: what follows (a chunked body's trailer) is dropped */
	struct http_header inline_fields[HTTP_HEAD_INLINE_FIELDS];
};

struct http_conn;
struct http_server;

struct http_request {
	enum http_method method;
	char *url;   /* request target as sent */
	char *path;  /* target up to '?', still percent-encoded */
	char *query; /* after '?', or NULL */
	struct http_header *headers; /* once the head is read */
	size_t nheaders;
	struct buf body;
	uint64_t content_length; /* as announced, 0 if none */
	bool body_too_large;     /* body exceeded max_body and was not read */
	bool body_no_room;       /* the server's max_body_memory was reached: 503 */
	int error_status;        /* set when the request could not be read: 400, 413, 431, 503 */
	const char *error_msg;
	bool keep_alive;
	uint64_t start_us;
	char peer[64]; /* client address, "ip:port" */
	int peer_fd;   /* the client socket (for handover to sockmap) */
	/* Handed over at its head (http_server_opts.early): the body is still unread and the
	 * connection ends with this request; http_req_take() may take the socket. */
	bool early;
	bool head_waiting; /* head_check answered HTTP_HEAD_WAIT: no verdict yet */
	void *user;    /* the handler's per-request state */

	/* private */
	struct http_head head; /* headers, url, path and query live in its text */
	size_t url_off;        /* in the head's text while it is read; SIZE_MAX: none yet */
	struct http_conn *conn; /* NULL once the client went away */
	struct http_request *next;
	struct buf resp_headers;
	struct buf resp;
	bool responded;
	bool streaming;
};

typedef void (*http_handler)(struct http_request *req, void *data);

/* Bodies up to this long are read before anyone looks at the head (head_check). */
#define HTTP_HEAD_CHECK_MIN (64u << 10)
/* head_check's answer when it must ask someone first. */
#define HTTP_HEAD_WAIT (-1)

struct http_server_opts {
	size_t max_body;        /* beyond it the request arrives with body_too_large */
	size_t max_header_size; /* beyond it: 431 and close */
	unsigned idle_timeout_ms; /* keep-alive: a connection idle this long is closed (75 s) */
	/* A connection that has not sent a complete request head this long after it was
	 * accepted, or after the first byte of a later request, is closed (10 s). */
	unsigned header_timeout_ms;
	/* Requests of one connection handed to the handler and not yet answered, at most
	 * (64): the next waits, unparsed, and reading pauses. */
	unsigned max_pipeline;
	/* The memory the bodies still being read may hold together on this server: a body
	 * that would go beyond it (counted at its announced length, else as it arrives) is
	 * answered 503 with Retry-After and its connection closed, so that clients that send
	 * all but the last byte cannot pin the memory (0: twice max_body, at least 64 MB). */
	size_t max_body_memory;
	/* Called with each response's status as it starts to go out (the handler's data):
	 * for the router to notice clients that keep being refused; it may still clear
	 * req->keep_alive to close the connection after this answer. NULL: none. */
	void (*answered)(struct http_request *req, int status, void *data);
	/* Called when a request's head is complete and nothing before it on its connection
	 * waits for an answer (the handler's data): true hands the request over at once,
	 * early, before its body is read, whatever its size (streams, Upgrade). NULL: none. */
	bool (*early)(const struct http_request *req, void *data);
	/* Called when the head of a request with a large body (announced longer than
	 * head_check_min, or chunked) is complete, before a byte of the body is read (the
	 * handler's data): so that a body is only held for a caller who may send it. Returns
	 * 0 to read the body; an HTTP status (401) with *msg to refuse it unread: the request
	 * reaches the handler with error_status and error_msg, its connection is closed and
	 * what the client still sends is dropped (a lingering close); or HTTP_HEAD_WAIT:
	 * reading the connection stops until http_req_head_verdict(), which must come later,
	 * from the loop (a verdict given before head_check returned would be lost: the
	 * request is not waiting yet). NULL: none. */
	int (*head_check)(struct http_request *req, const char **msg, void *data);
	size_t head_check_min; /* 0: HTTP_HEAD_CHECK_MIN */
	/* Answers are not written as they are sent but by http_server_flush, which the
	 * owner calls once per loop turn (its before-sleep hook): every answer of a turn on
	 * a connection in one write, and the owner's own batched work (the node's spool)
	 * written before any of them. */
	bool defer_writes;
};

struct http_server *http_server_new(struct loop *loop, const struct http_server_opts *opts,
				    http_handler handler, void *data);
/* addr is "host:port"; reuseport lets several workers share the port. */
int http_server_listen(struct http_server *srv, const char *addr, bool reuseport);
int http_server_port(struct http_server *srv);
/* Serves fd, an already connected non-blocking stream socket (a socketpair in the fuzz
 * targets): the server owns it from here on. peer names the client in logs. */
int http_server_adopt(struct http_server *srv, int fd, const char *peer);
void http_server_free(struct http_server *srv);
/* Writes what defer_writes held back this turn; srv may be NULL. */
void http_server_flush(struct http_server *srv);
/* Sockets of srv's closed connections still being read and dropped (a lingering close);
 * at most 256 at once. */
unsigned http_server_lingering(const struct http_server *srv);
/* Requests allocated and not yet freed, in every server of the process (for leak checks). */
size_t http_requests_live(void);
/* Stops accepting connections (the port is free for a successor); open ones go on. */
void http_server_close_listener(struct http_server *srv);
size_t http_server_connections(struct http_server *srv);
/* Bytes of answers srv holds that its clients have not taken yet. */
size_t http_server_unsent_bytes(const struct http_server *srv);

/* Case-insensitive header lookup. */
const char *http_header_get(const struct http_header *h, size_t n, const char *name);
static inline const char *http_req_header(const struct http_request *req, const char *name)
{
	return http_header_get(req->headers, req->nheaders, name);
}

/* Response: add headers, then send exactly once (from any later point on the loop). */
int http_resp_header(struct http_request *req, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void http_resp_send(struct http_request *req, int status, const char *content_type,
		    const void *body, size_t len);
/* A chunked response sent piece by piece: begin once, then chunks, then end (which
 * frees the request). Chunks of a request not yet at the head of its connection's
 * pipeline wait in order. http_req_alive() tells whether anyone still listens. */
void http_resp_begin(struct http_request *req, int status, const char *content_type);
int http_resp_chunk(struct http_request *req, const void *data, size_t len);
void http_resp_end(struct http_request *req);
const char *http_status_text(int status);
/* True while the client that sent req is still connected. */
bool http_req_alive(const struct http_request *req);
/* Takes req's connection from the server: returns the client socket (the caller's to
 * close) with the bytes already read past an early request's head appended to pending, or
 * -EBUSY (an answer still leaving, another request behind it), -EPIPE (the client is
 * gone), -ENOMEM. req stays valid until http_req_free(). */
int http_req_take(struct http_request *req, struct buf *pending);
/* The verdict on a request whose head_check answered HTTP_HEAD_WAIT, exactly once: 0 reads
 * its body, a status refuses it as head_check would have (msg static). The request may
 * have lost its client meanwhile: then it is freed here. */
void http_req_head_verdict(struct http_request *req, int status, const char *msg);
/* Frees a request whose connection was taken. */
void http_req_free(struct http_request *req);

/* Percent-decoding; returns a malloc'd string or NULL on bad escapes. plus_space for forms. */
char *url_decode(const char *s, size_t len, bool plus_space);
/*
 * The percent-decoded '/'-separated segments of path (leading slashes skipped), at most
 * max, in one allocation that url_path_free releases. Returns their number, or -1
 * (nothing left allocated) on a bad escape, a segment that decodes to a NUL, or more
 * than max segments.
 */
int url_path_split(const char *path, char **segs, int max, bool *trailing_slash);
void url_path_free(char **segs, int n);
/*
 * The request's X-Request-ID when usable as a transaction id (printable, valid UTF-8,
 * shorter than size, not OpenWhisk's "sid_" system ids), else size-1 (at most 32)
 * random characters: node and controller take ids the same way, so that an error
 * body's "code" always equals the X-Request-ID header.
 */
void http_request_id(const struct http_request *req, char *out, size_t size);
/* Finds key in a query string and returns its decoded value (malloc'd), NULL if absent. */
char *query_get(const char *query, const char *key);
/* The same into out (size bytes, terminated), for short values read on every request:
 * 0, -ENOENT when absent, -E2BIG when the raw value does not fit, -EINVAL on a bad
 * escape. */
int query_copy(const char *query, const char *key, char *out, size_t size);

/* ---- client ---- */

struct http_response {
	int status;
	struct http_header *headers; /* once the head is read */
	size_t nheaders;
	struct buf body;
	size_t body_total; /* bytes the server sent: more than body.len past a body limit */
	struct http_head head; /* private: headers live in its text */
};

struct http_pool;
struct http_call;

/* err is 0 or a negative errno (-ETIMEDOUT, -ECONNREFUSED, -EPROTO...). resp is valid only
 * during the callback. */
typedef void (*http_call_cb)(struct http_response *resp, int err, void *data);
/* Receives the body as it arrives (then resp->body stays empty). */
typedef void (*http_body_cb)(const char *data, size_t len, void *data_arg);

/* Keeps at most max bytes of the call's response body; the rest is read and counted
 * (resp->body_total), not stored. */
void http_call_limit_body(struct http_call *call, size_t max);
/* A keep-alive pool of connections to one host:port. */
struct http_pool *http_pool_new(struct loop *loop, const char *host, int port, unsigned max_idle);
void http_pool_free(struct http_pool *pool);
/* hook(fd, data) once per connection of pool, the first time it goes back to the pool
 * after a complete exchange: nothing is in flight in either direction then. */
typedef void (*http_idle_hook)(int fd, void *data);
void http_pool_on_first_idle(struct http_pool *pool, http_idle_hook hook, void *data);
/* extra_headers is "Name: value\r\n..." or NULL. Returns a handle for cancel, NULL on error. */
struct http_call *http_pool_call(struct http_pool *pool, const char *method, const char *target,
				 const char *extra_headers, const void *body, size_t len,
				 unsigned timeout_ms, http_call_cb cb, void *data);
/* Like http_pool_call, but the body is handed to on_body piece by piece: for streams. */
struct http_call *http_pool_stream(struct http_pool *pool, const char *method, const char *target,
				   const char *extra_headers, const void *body, size_t len,
				   unsigned timeout_ms, http_body_cb on_body, http_call_cb cb,
				   void *data);
/* The callback will not run; the connection is dropped. */
void http_call_cancel(struct http_call *call);
/* A call's response parsing without a socket, for the fuzz targets: data is taken as the
 * answer to a HEAD (head) or another request, in reads of at most piece bytes (0: one),
 * then the server's close; cb runs before this returns. max_body as http_call_limit_body
 * (0: none), on_body as for http_pool_stream (NULL: none). */
void http_call_parse(bool head, size_t max_body, const void *data, size_t len, size_t piece,
		     http_body_cb on_body, http_call_cb cb, void *arg);

#endif
