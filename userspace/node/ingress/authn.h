/* SPDX-License-Identifier: Apache-2.0 */
/* The authentication step of the node's own routes: 401 without credentials or with bad
 * ones, 503 when the controller must be asked and cannot be. */
#ifndef XWHISK_AUTHN_H
#define XWHISK_AUTHN_H

#include "http.h"
#include "node/ingress/identity.h"

struct worker;

/* Exactly one of ok or failed runs (failed after the 401/503 went out), possibly before
 * authn_request returns. */
typedef void (*authn_ok)(const struct identity *who, void *data);
typedef void (*authn_failed)(void *data);

void authn_request(struct worker *w, struct http_request *req, const char *tid, authn_ok ok,
		   authn_failed failed, void *data);

/* The ingress's http_server_opts.head_check (data: the worker): a large body is read only
 * for a caller whose credentials hold (asking the controller when they are not cached);
 * else 401 (or 503) with the texts above, unread. Web actions are public: not checked. */
int authn_head_check(struct http_request *req, const char **msg, void *data);

#endif
