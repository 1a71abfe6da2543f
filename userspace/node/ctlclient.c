// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "node/ctlclient.h"
#include "json.h"
#include "log.h"

#define CTL_TIMEOUT_MS 10000

struct ctlclient {
	struct http_pool *pool;
	char headers[160];
	char token[65];
};

struct ctl_call {
	ctl_cb cb;
	void *data;
};

struct ctlclient *ctlclient_new(struct loop *loop, const char *host, int port, const char *token)
{
	struct ctlclient *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	cc->pool = http_pool_new(loop, host, port, 32);
	if (!cc->pool) {
		free(cc);
		return NULL;
	}
	snprintf(cc->token, sizeof(cc->token), "%s", token);
	snprintf(cc->headers, sizeof(cc->headers),
		 "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", token);
	return cc;
}

void ctlclient_free(struct ctlclient *cc)
{
	if (!cc)
		return;
	http_pool_free(cc->pool);
	free(cc);
}

struct http_pool *ctlclient_pool(struct ctlclient *cc)
{
	return cc->pool;
}

const char *ctlclient_token(struct ctlclient *cc)
{
	return cc->token;
}

static void on_answer(struct http_response *resp, int err, void *data)
{
	struct ctl_call *call = data;
	json_t *body = NULL;

	if (!err && resp->body.len)
		/* json_parse: documents may hold "\u0000", which the API accepts. */
		body = json_parse(resp->body.data, resp->body.len, NULL, 0);
	call->cb(err ? err : resp->status, body, call->data);
	json_decref(body);
	free(call);
}

int ctlclient_call(struct ctlclient *cc, const char *method, const char *target,
		   const json_t *body, unsigned timeout_ms, ctl_cb cb, void *data)
{
	struct ctl_call *call = calloc(1, sizeof(*call));
	char *text = body ? json_dump(body) : NULL;
	int err = 0;

	if (!call || (body && !text)) {
		err = -ENOMEM;
		goto out;
	}
	call->cb = cb;
	call->data = data;
	if (!http_pool_call(cc->pool, method, target, cc->headers, text, text ? strlen(text) : 0,
			    timeout_ms ? timeout_ms : CTL_TIMEOUT_MS, on_answer, call)) {
		err = -ECONNREFUSED;
		goto out;
	}
	call = NULL;
out:
	free(call);
	free(text);
	return err;
}

int ctlclient_post_text(struct ctlclient *cc, const char *target, const char *text, size_t len,
			ctl_cb cb, void *data)
{
	struct ctl_call *call = calloc(1, sizeof(*call));

	if (!call)
		return -ENOMEM;
	call->cb = cb;
	call->data = data;
	if (!http_pool_call(cc->pool, "POST", target, cc->headers, text, len, CTL_TIMEOUT_MS,
			    on_answer, call)) {
		free(call);
		return -ECONNREFUSED;
	}
	return 0;
}

int ctlclient_identity(struct ctlclient *cc, const char *authorization, ctl_cb cb, void *data)
{
	json_t *body = json_pack("{s:s}", "authorization", authorization);
	int err = ctlclient_call(cc, "POST", "/internal/v1/identity", body, 0, cb, data);

	json_decref(body);
	return err;
}

/* Percent-encodes a query value. */
static void query_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || c == '/')
			buf_append(b, s, 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

int ctlclient_namespace(struct ctlclient *cc, const char *ns, ctl_cb cb, void *data)
{
	struct buf target = BUF_INIT;
	int err;

	buf_puts(&target, "/internal/v1/namespaces/");
	query_escape(&target, ns);
	err = ctlclient_call(cc, "GET", target.data, NULL, 0, cb, data);
	buf_free(&target);
	return err;
}

int ctlclient_resolve(struct ctlclient *cc, const char *what, const char *subject,
		      const char *name, ctl_cb cb, void *data)
{
	struct buf target = BUF_INIT;
	int err;

	buf_printf(&target, "/internal/v1/resolve/%s?subject=", what);
	query_escape(&target, subject);
	buf_puts(&target, "&name=");
	query_escape(&target, name);
	err = ctlclient_call(cc, "GET", target.data, NULL, 0, cb, data);
	buf_free(&target);
	return err;
}
