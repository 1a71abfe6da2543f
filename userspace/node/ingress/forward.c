// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "node/ingress/forward.h"
#include "json.h"
#include "log.h"
#include "node/ctlclient.h"
#include "node/ingress/reply.h"

/* The controller's own request timeout is 65 s (OpenWhisk's); wait a little longer. */
#define FORWARD_TIMEOUT_MS 70000

struct forwarder {
	struct loop *loop;
	struct ctlclient *cc;
	struct action_cache *actions;
};

struct forward_call {
	struct forwarder *fw;
	struct http_request *req;
	char tid[72];
	struct buf hdrs;   /* kept to send it to the next controller */
	unsigned idx;      /* the controller it went to */
	unsigned tries;
};

static const char *const hop_headers[] = {
	"connection", "keep-alive", "transfer-encoding", "content-length", "host",
	"proxy-connection", "upgrade", "te", "trailer", "x-request-id",
};

static bool is_hop(const char *name)
{
	for (size_t i = 0; i < sizeof(hop_headers) / sizeof(hop_headers[0]); i++)
		if (!strcasecmp(name, hop_headers[i]))
			return true;
	return false;
}

int url_host_port(const char *url, char *host, size_t hostlen, int *port)
{
	const char *p = url, *colon, *end;
	size_t n;

	if (!strncmp(p, "http://", 7))
		p += 7;
	end = p + strcspn(p, "/");
	colon = memchr(p, ':', (size_t)(end - p));
	n = (size_t)((colon ? colon : end) - p);
	if (!n || n >= hostlen)
		return -EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	*port = colon ? atoi(colon + 1) : 80;
	return *port > 0 && *port < 65536 ? 0 : -EINVAL;
}

struct forwarder *forwarder_new(struct loop *loop, struct ctlclient *cc,
				struct action_cache *actions)
{
	struct forwarder *fw = cc ? calloc(1, sizeof(*fw)) : NULL;

	if (!fw)
		return NULL;
	fw->loop = loop;
	fw->cc = cc;
	fw->actions = actions;
	return fw;
}

/*
 * After a successful PUT or DELETE of an action or a package: the entity's document id
 * is "namespace/name" of the answer (which has the namespace resolved, "_" included).
 * The controller's event would drop it too, but only after the answer has left.
 */
static void drop_cached(struct forwarder *fw, const struct http_request *req,
			const struct http_response *resp)
{
	const char *path = req->url, *ns, *name;
	size_t pathlen = strcspn(path, "?");
	char docid[600];
	json_t *body;

	if (!fw->actions || resp->status < 200 || resp->status > 299 ||
	    (req->method != HTTP_PUT && req->method != HTTP_DELETE) ||
	    strncmp(path, "/api/v1/namespaces/", 19) ||
	    (!memmem(path, pathlen, "/actions/", 9) && !memmem(path, pathlen, "/packages/", 10)))
		return;
	/* json_parse: an entity may hold "\u0000"; the cache must still be dropped. */
	body = json_parse(resp->body.data ? resp->body.data : "", resp->body.len, NULL, 0);
	ns = json_obj_str(body, "namespace");
	name = json_obj_str(body, "name");
	if (ns && name && (size_t)snprintf(docid, sizeof(docid), "%s/%s", ns, name) < sizeof(docid))
		action_cache_invalidate(fw->actions, docid);
	json_decref(body);
}

void forwarder_free(struct forwarder *fw)
{
	free(fw);
}

static void on_response(struct http_response *resp, int err, void *data);

static void forward_call_free(struct forward_call *fc)
{
	buf_free(&fc->hdrs);
	free(fc);
}

/* Sends the request to the current controller. */
static int forward_send(struct forward_call *fc)
{
	struct http_request *req = fc->req;

	fc->idx = ctlclient_target(fc->fw->cc);
	fc->tries++;
	return http_pool_call(ctlclient_pool(fc->fw->cc), http_method_str(req->method), req->url,
			      fc->hdrs.data, req->body.data, req->body.len, FORWARD_TIMEOUT_MS,
			      on_response, fc) ?
		       0 :
		       -ECONNREFUSED;
}

static void on_response(struct http_response *resp, int err, void *data)
{
	struct forward_call *fc = data;
	struct http_request *req = fc->req;
	const char *ctype = NULL;

	if (err) {
		ctlclient_failover(fc->fw->cc, fc->idx, strerror(-err));
		/* Only a request that never reached it is sent again: a write that did may
		 * have been made. */
		if (err == -ECONNREFUSED && fc->tries < ctlclient_count(fc->fw->cc) && !forward_send(fc))
			return;
		pr_warn("forward: %s %s (tid %s): %s", http_method_str(req->method), req->url,
			fc->tid, strerror(-err));
		reply_error(req, fc->tid, err == -ETIMEDOUT ? 503 : 502, "%s",
			    err == -ETIMEDOUT ? "The controller did not answer in time."
					      : "The controller is not reachable.");
		forward_call_free(fc);
		return;
	}
	for (size_t i = 0; i < resp->nheaders; i++) {
		const struct http_header *h = &resp->headers[i];

		if (!strcasecmp(h->name, "content-type"))
			ctype = h->value;
		else if (!is_hop(h->name))
			http_resp_header(req, h->name, "%s", h->value);
	}
	http_resp_header(req, "X-Request-ID", "%s", fc->tid);
	drop_cached(fc->fw, req, resp);
	http_resp_send(req, resp->status, ctype, resp->body.data, resp->body.len);
	forward_call_free(fc);
}

void forwarder_pass(struct forwarder *fw, struct http_request *req, const char *tid)
{
	struct forward_call *fc = calloc(1, sizeof(*fc));
	int err = 0;

	if (!fc) {
		reply_error(req, tid, 503, "%s", "The node is out of memory.");
		return;
	}
	fc->fw = fw;
	fc->req = req;
	snprintf(fc->tid, sizeof(fc->tid), "%s", tid);
	for (size_t i = 0; i < req->nheaders; i++)
		if (!is_hop(req->headers[i].name))
			err |= buf_printf(&fc->hdrs, "%s: %s\r\n", req->headers[i].name,
					  req->headers[i].value);
	/* peer is "address:port"; the address itself may hold colons (IPv6) */
	err |= buf_printf(&fc->hdrs, "X-Request-ID: %s\r\nX-Forwarded-For: %.*s\r\n", tid,
			  (int)(strrchr(req->peer, ':') ? strrchr(req->peer, ':') - req->peer
							: (ptrdiff_t)strlen(req->peer)),
			  req->peer);
	if (err || forward_send(fc)) {
		reply_error(req, tid, 502, "%s", "The controller is not reachable.");
		forward_call_free(fc);
	}
}
