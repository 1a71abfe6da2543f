// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "node/ingress/authn.h"
#include "node/ingress/reply.h"
#include "node/ingress/worker.h"

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
			reply_error(a->req, a->tid, 503, "The controller is not reachable.");
		else
			reply_error(a->req, a->tid, 401, "The supplied authentication is invalid");
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
		reply_error(req, tid, 401, "The resource requires authentication, which was not "
					   "supplied with the request");
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
		reply_error(req, tid, 401, "The supplied authentication is invalid");
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
		reply_error(req, tid, 503, "The controller is not reachable.");
		failed(data);
	}
}
