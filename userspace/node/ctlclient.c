// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "node/ctlclient.h"
#include "node/ingress/forward.h"
#include "json.h"
#include "log.h"

#define CTL_TIMEOUT_MS 10000

struct ctlclient {
	struct ctl_targets *targets;
	struct http_pool *pools[CTL_TARGETS_MAX];
	char headers[160];
	char lines_headers[160]; /* the same, for a body of JSON lines */
	char token[65];
};

/* A call, kept whole so that it can be sent to the next controller. */
struct ctl_call {
	struct ctlclient *cc;
	ctl_cb cb;
	void *data;
	char method[8];
	char *target, *text;
	size_t len;
	const char *headers; /* one of the client's */
	unsigned timeout_ms;
	unsigned idx;   /* the controller it went to */
	unsigned tries; /* controllers tried */
};

int ctl_targets_parse(struct ctl_targets *targets, const char *urls)
{
	char one[512];

	memset(targets, 0, sizeof(*targets));
	while (*urls) {
		size_t len = strcspn(urls, ",");

		if (len >= sizeof(one) || targets->n == CTL_TARGETS_MAX)
			return -EINVAL;
		snprintf(one, sizeof(one), "%.*s", (int)len, urls);
		if (url_host_port(one, targets->t[targets->n].host,
				  sizeof(targets->t[0].host), &targets->t[targets->n].port))
			return -EINVAL;
		targets->n++;
		urls += len + (urls[len] == ',');
	}
	return targets->n ? 0 : -EINVAL;
}

struct ctlclient *ctlclient_new(struct loop *loop, struct ctl_targets *targets, const char *token)
{
	struct ctlclient *cc = calloc(1, sizeof(*cc));

	if (!cc)
		return NULL;
	cc->targets = targets;
	for (unsigned i = 0; i < targets->n; i++) {
		cc->pools[i] = http_pool_new(loop, targets->t[i].host, targets->t[i].port, 32);
		if (!cc->pools[i]) {
			ctlclient_free(cc);
			return NULL;
		}
	}
	snprintf(cc->token, sizeof(cc->token), "%s", token);
	snprintf(cc->headers, sizeof(cc->headers),
		 "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", token);
	snprintf(cc->lines_headers, sizeof(cc->lines_headers),
		 "Authorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\n", token);
	return cc;
}

void ctlclient_free(struct ctlclient *cc)
{
	if (!cc)
		return;
	for (unsigned i = 0; i < CTL_TARGETS_MAX; i++)
		http_pool_free(cc->pools[i]);
	free(cc);
}

unsigned ctlclient_target(struct ctlclient *cc)
{
	return __atomic_load_n(&cc->targets->current, __ATOMIC_ACQUIRE) % cc->targets->n;
}

unsigned ctlclient_count(struct ctlclient *cc)
{
	return cc->targets->n;
}

struct http_pool *ctlclient_pool(struct ctlclient *cc)
{
	return cc->pools[ctlclient_target(cc)];
}

const char *ctlclient_token(struct ctlclient *cc)
{
	return cc->token;
}

void ctlclient_failover(struct ctlclient *cc, unsigned idx, const char *why)
{
	struct ctl_targets *t = cc->targets;
	unsigned next = (idx + 1) % t->n;

	if (t->n > 1 && __atomic_compare_exchange_n(&t->current, &idx, next, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		pr_warn("controller %s:%d %s: now calling %s:%d", t->t[idx].host, t->t[idx].port,
			why, t->t[next].host, t->t[next].port);
}

static void call_free(struct ctl_call *call)
{
	free(call->target);
	free(call->text);
	free(call);
}

static void on_answer(struct http_response *resp, int err, void *data);

/* Sends the call to the current controller. */
static int call_send(struct ctl_call *call)
{
	struct ctlclient *cc = call->cc;

	call->idx = ctlclient_target(cc);
	call->tries++;
	if (!http_pool_call(cc->pools[call->idx], call->method, call->target, call->headers,
			    call->text, call->len, call->timeout_ms, on_answer, call))
		return -ECONNREFUSED;
	return 0;
}

static void on_answer(struct http_response *resp, int err, void *data)
{
	struct ctl_call *call = data;
	bool standby = !err && resp->status == 503 &&
		       http_header_get(resp->headers, resp->nheaders, "X-Xwhisk-Standby");
	json_t *body = NULL;

	if (err || standby) {
		ctlclient_failover(call->cc, call->idx, err ? strerror(-err) : "is on standby");
		if (call->tries < ctlclient_count(call->cc) && !call_send(call))
			return;
	}
	if (!err && !standby && resp->body.len)
		/* json_parse: documents may hold "\u0000", which the API accepts. */
		body = json_parse(resp->body.data, resp->body.len, NULL, 0);
	call->cb(err ? err : standby ? -EAGAIN : resp->status, body, call->data);
	json_decref(body);
	call_free(call);
}

static int call_start(struct ctlclient *cc, const char *method, const char *target, char *text,
		      size_t len, unsigned timeout_ms, bool lines, ctl_cb cb, void *data)
{
	struct ctl_call *call = calloc(1, sizeof(*call));
	int err;

	if (!call || !(call->target = strdup(target))) {
		free(call);
		free(text);
		return -ENOMEM;
	}
	call->cc = cc;
	call->cb = cb;
	call->data = data;
	snprintf(call->method, sizeof(call->method), "%s", method);
	call->text = text;
	call->len = len;
	call->headers = lines ? cc->lines_headers : cc->headers;
	call->timeout_ms = timeout_ms ? timeout_ms : CTL_TIMEOUT_MS;
	err = call_send(call);
	if (err)
		call_free(call);
	return err;
}

int ctlclient_call(struct ctlclient *cc, const char *method, const char *target,
		   const json_t *body, unsigned timeout_ms, ctl_cb cb, void *data)
{
	char *text = body ? json_dump(body) : NULL;

	if (body && !text)
		return -ENOMEM;
	return call_start(cc, method, target, text, text ? strlen(text) : 0, timeout_ms, false, cb,
			  data);
}

static int post_copy(struct ctlclient *cc, const char *target, const char *text, size_t len,
		     bool lines, ctl_cb cb, void *data)
{
	char *copy = malloc(len + 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	return call_start(cc, "POST", target, copy, len, 0, lines, cb, data);
}

int ctlclient_post_text(struct ctlclient *cc, const char *target, const char *text, size_t len,
			ctl_cb cb, void *data)
{
	return post_copy(cc, target, text, len, false, cb, data);
}

int ctlclient_post_lines(struct ctlclient *cc, const char *target, const char *text, size_t len,
			 ctl_cb cb, void *data)
{
	return post_copy(cc, target, text, len, true, cb, data);
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
