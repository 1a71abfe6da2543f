/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streaming web actions (an xwhisk extension; docs/API.md): a web action annotated
 * web-stream is an HTTP server of its own (the Node.js runtime calls main(req, res) and
 * upgrade(req, socket, head) on port 8081 of its sandbox). Once web.c has authenticated
 * and resolved the request, the activation pipeline admits it (one throttle unit) and
 * gives it room in a sandbox; this module then takes the client's connection from the
 * HTTP server, connects to the action's server, sends the request head (and what the
 * server had read of the body) and splices the two sockets with sock_accel: the kernel
 * moves the bytes both ways, unbuffered, with no size limit. Where sock_accel cannot be
 * loaded the bytes are relayed here with splice(2) (said once in the log and on /metrics).
 *
 * One request (or one WebSocket session) is one activation: it holds its concurrency slot
 * until the action's server closes the connection, the client goes away or the action's
 * time limit runs out, and its record says the status code, bytes in and out, how it
 * ended and (with limits.logs) the lines the action logged.
 */
#ifndef XWHISK_STREAM_H
#define XWHISK_STREAM_H

#include <stdbool.h>

#include "buf.h"
#include "http.h"
#include "node/activation/action_cache.h"
#include "node/ingress/identity.h"

struct worker;

/* A web request web.c resolved, authenticated and checked. */
struct stream_call {
	struct worker *w;
	struct http_request *req;
	const char *tid;
	struct action_entry *a;
	const struct identity *owner; /* the action runs as its namespace's owner */
	const char *user;	      /* the caller's namespace when authenticated, or NULL */
};

/* Takes call over: 0 when it answered or runs the stream (req is no longer the caller's);
 * -ENOTSUP when the action does not stream and the request is an ordinary web call. */
int stream_web(const struct stream_call *call);
/* http_server_opts.early of the ingress: a web request that may be a stream and must not
 * be read whole first (a body over 1 MB, an Upgrade). data: the worker. */
bool stream_early(const struct http_request *req, void *data);
/* The streaming lines of /metrics. */
void stream_metrics(struct buf *b);

#endif
