// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ingress/authn.h"
#include "auth_messages.h"
#include "node/ingress/reply.h"
#include "node/ingress/worker.h"

#define UNREACHABLE "The controller is not reachable."

struct authn {
	struct http_request *req;
	char tid[72];
	authn_ok ok;
	authn_failed failed;
	void *data;
};

static void on_identity(int status, const struct identity *id, void *data)
{
	struct authn *a = data;

	if (!status) {
		a->ok(id, a->data);
	} else {
		if (status == 503)
			reply_error(a->req, a->tid, 503, UNREACHABLE);
		else
			reply_error(a->req, a->tid, 401, AUTH_INVALID);
		a->failed(a->data);
	}
	free(a);
}

void authn_request(struct worker *w, struct http_request *req, const char *tid, authn_ok ok,
		   authn_failed failed, void *data)
{
	const char *authz = http_req_header(req, "Authorization");
	struct identity who;
	struct authn *a;
	int err;

	if (!authz) {
		reply_error(req, tid, 401, AUTH_NOT_SUPPLIED);
		failed(data);
		return;
	}
	err = identity_lookup(w->node, w->ids, authz, &who);
	if (!err) {
		ok(&who, data);
		return;
	}
	a = calloc(1, sizeof(*a));
	if (!a || err != -EAGAIN) {
		free(a);
		reply_error(req, tid, 401, AUTH_INVALID);
		failed(data);
		return;
	}
	a->req = req;
	snprintf(a->tid, sizeof(a->tid), "%s", tid);
	a->ok = ok;
	a->failed = failed;
	a->data = data;
	if (identity_fetch(w->node, w->ctl, authz, on_identity, a)) {
		free(a);
		reply_error(req, tid, 503, UNREACHABLE);
		failed(data);
	}
}

static void on_head_identity(int status, const struct identity *id, void *data)
{
	(void)id;
	if (!status)
		http_req_head_verdict(data, 0, NULL);
	else
		http_req_head_verdict(data, status == 503 ? 503 : 401,
				      status == 503 ? UNREACHABLE : AUTH_INVALID);
}

int authn_head_check(struct http_request *req, const char **msg, void *data)
{
	struct worker *w = data;
	const char *authz = http_req_header(req, "Authorization");
	struct identity who;
	int err;

	/* Public web actions take bodies from anyone: only the body memory cap holds them. */
	if (!strncmp(req->path, "/api/v1/web/", 12))
		return 0;
	if (!authz) {
		*msg = AUTH_NOT_SUPPLIED;
		return 401;
	}
	/* As authn_request answers: */
	err = identity_lookup(w->node, w->ids, authz, &who);
	if (!err)
		return 0;
	if (err != -EAGAIN) {
		*msg = AUTH_INVALID;
		return 401;
	}
	err = identity_fetch(w->node, w->ctl, authz, on_head_identity, req);
	if (!err)
		return HTTP_HEAD_WAIT;
	*msg = UNREACHABLE;
	return 503;
}
