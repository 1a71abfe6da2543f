// SPDX-License-Identifier: Apache-2.0
/*
 * /internal/v1: what nodes call on the controller, authenticated with the node token.
 *   POST /internal/v1/activations  {"activations":[<stored record>, ...]}
 *     Stores a batch; idempotent by activationId, so a node may resend after a crash.
 *     Answers {"stored": n, "rejected": [{"index": i, "error": "..."}]}.
 * The data-path calls (identity, resolve, events) are in internal_node.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "activation.h"
#include "api.h"
#include "internal.h"
#include "controller.h"
#include "json.h"
#include "log.h"

#define BATCH_MAX 1000

static bool node_authenticated(struct api_req *r)
{
	const char *hdr = http_req_header(r->http, "Authorization");
	size_t n = strlen(r->ctl->node_token);

	if (!hdr || strncasecmp(hdr, "Bearer ", 7) || strlen(hdr + 7) != n ||
	    CRYPTO_memcmp(hdr + 7, r->ctl->node_token, n)) {
		api_error(r, 401, "The supplied authentication is invalid");
		return false;
	}
	return true;
}

static void store_activations(struct api_req *r)
{
	json_t *body = api_body_object(r), *list, *rejected = NULL, **ok = NULL, *rec;
	size_t i, n = 0;
	int err;

	if (!body)
		return;
	list = json_object_get(body, "activations");
	if (!json_is_array(list) || json_array_size(list) > BATCH_MAX) {
		api_error(r, 400, "The request content was malformed:\nactivations must be an "
				  "array of at most %d records",
			  BATCH_MAX);
		goto out;
	}
	ok = calloc(json_array_size(list) + 1, sizeof(*ok));
	rejected = json_array();
	json_array_foreach(list, i, rec) {
		const char *why = activation_check(rec);

		if (why) {
			pr_warn("internal: rejecting activation record %zu from %s: %s", i,
				r->http->peer, why);
			json_array_append_new(rejected, json_pack("{s:I,s:s}", "index", (json_int_t)i,
								  "error", why));
			continue;
		}
		ok[n++] = rec;
	}
	err = n ? r->st->ops->activation_put(r->st, ok, n) : 0;
	if (err) {
		api_error_store(r, err);
		goto out;
	}
	r->ctl->stats.activations_stored += n;
	r->ctl->stats.activations_rejected += json_array_size(rejected);
	api_reply(r, 200, json_pack("{s:I,s:O}", "stored", (json_int_t)n, "rejected", rejected));
out:
	free(ok);
	json_decref(rejected);
	json_decref(body);
}

void api_internal(struct api_req *r)
{
	if (!node_authenticated(r))
		return;
	enum http_method m = r->http->method;
	const char *what = r->nseg ? r->seg[0] : "";

	if (r->nseg == 1 && !strcmp(what, "activations")) {
		if (m != HTTP_POST)
			api_error_method(r, "POST");
		else
			store_activations(r);
		return;
	}
	if (r->nseg == 1 && !strcmp(what, "identity")) {
		if (m != HTTP_POST)
			api_error_method(r, "POST");
		else
			internal_identity(r);
		return;
	}
	if (r->nseg == 2 && !strcmp(what, "namespaces") && m == HTTP_GET) {
		internal_namespace(r, r->seg[1]);
		return;
	}
	if (r->nseg == 2 && !strcmp(what, "resolve") && m == HTTP_GET) {
		internal_resolve(r, r->seg[1]);
		return;
	}
	if (r->nseg == 1 && !strcmp(what, "events") && m == HTTP_GET) {
		internal_events(r);
		return;
	}
	if (internal_cluster(r))
		return;
	api_error(r, 404, "The requested resource could not be found.");
}
