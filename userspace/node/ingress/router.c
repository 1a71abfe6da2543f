// SPDX-License-Identifier: Apache-2.0
/*
 * Served by the node:
 *   POST /api/v1/namespaces/{ns}/actions/[{pkg}/]{name}   invoke (invoke_http.c)
 *   POST /api/v1/namespaces/{ns}/triggers/{name}          fire (trigger.c)
 *   *    /api/v1/web/...                                  web actions (web.c)
 *   GET  /metrics, GET /ping
 * Everything else under /api/v1 (and /) goes to the controller unchanged; /internal never
 * does, it is not for the public ingress.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ingress/forward.h"
#include "node/ingress/invoke.h"
#include "node/ingress/metrics.h"
#include "names.h"
#include "node/ingress/reply.h"
#include "node/ingress/router.h"
#include "node/ingress/trigger.h"
#include "node/ingress/web.h"
#include "node/ingress/worker.h"

#define MAX_SEGS 6

struct segs {
	char *s[MAX_SEGS];
	int n;
	bool trailing_slash;
};

static void segs_free(struct segs *p)
{
	url_path_free(p->s, p->n);
}

/* Decoded segments of path after prefix; false (nothing allocated) when malformed or too
 * deep. */
static bool split(const char *path, struct segs *out)
{
	out->n = url_path_split(path, out->s, MAX_SEGS, &out->trailing_slash);
	if (out->n >= 0)
		return true;
	out->n = 0;
	return false;
}

/* A name or namespace segment OpenWhisk would refuse: answered with its 400. */
static bool bad_names(struct http_request *req, const char *tid, const struct segs *p, int from)
{
	for (int i = from; i < p->n; i++) {
		const char *msg = name_check(p->s[i]);

		if (i == 0 && !strcmp(p->s[i], "_"))
			continue;
		if (i == 1)
			continue; /* the collection */
		if (msg) {
			reply_error(req, tid, 400, "%s", i == 0 ? "The namespace contains illegal "
								  "characters."
								: msg);
			return true;
		}
	}
	return false;
}

/* POSTs on actions and triggers are the node's; false to forward the request. */
static bool route_namespaces(struct worker *w, struct http_request *req, const char *tid,
			     const char *rest)
{
	struct segs p;
	bool handled = false;

	if (req->method != HTTP_POST || !split(rest, &p))
		return false;
	if (p.n >= 3 && !p.trailing_slash && !strcmp(p.s[1], "actions") && p.n <= 4) {
		if (!bad_names(req, tid, &p, 0))
			invoke_http(w, req, tid, p.s[0], p.n == 4 ? p.s[2] : NULL, p.s[p.n - 1]);
		handled = true;
	} else if (p.n == 3 && !p.trailing_slash && !strcmp(p.s[1], "triggers")) {
		if (!bad_names(req, tid, &p, 0))
			trigger_fire_http(w, req, tid, p.s[0], p.s[2]);
		handled = true;
	}
	segs_free(&p);
	return handled;
}

void router_handle(struct http_request *req, void *data)
{
	struct worker *w = data;
	const char *path = req->path;
	char tid[72];

	http_request_id(req, tid, sizeof(tid));
	if (req->error_status) {
		if (req->error_status == 413)
			reply_error(req, tid, 413, PAYLOAD_TOO_LARGE,
				    /* a chunked body announces no length: what was read */
				    (unsigned long long)(req->body.len > req->content_length
								 ? req->body.len
								 : req->content_length),
				    NODE_MAX_BODY);
		else
			reply_error(req, tid, req->error_status, "%s", req->error_msg);
		return;
	}
	if (w->draining) {
		/* Stopping: another node (or this one's successor) takes it. */
		req->keep_alive = false;
		http_resp_header(req, "Retry-After", "1");
		reply_error(req, tid, 503, "The node is shutting down; try again.");
		return;
	}
	if (!strncmp(path, "/internal", 9)) {
		reply_error(req, tid, 404, "The requested resource could not be found.");
		return;
	}
	if (!strcmp(path, "/metrics") && req->method == HTTP_GET) {
		metrics_http(w->node, req);
		return;
	}
	if (!strcmp(path, "/ping")) {
		reply_headers(req, tid);
		http_resp_send(req, 200, "text/plain; charset=UTF-8", "pong", 4);
		return;
	}
	if (!strncmp(path, "/api/v1/web/", 12)) {
		web_http(w, req, tid, path + 12);
		return;
	}
	if (!strncmp(path, "/api/v1/namespaces/", 19) && route_namespaces(w, req, tid, path + 19))
		return;
	forwarder_pass(w->fw, req, tid);
}
