// SPDX-License-Identifier: Apache-2.0
/*
 * /internal/v1: what nodes call on the controller, authenticated with the node token.
 *   POST /internal/v1/activations  one stored record per line (Content-Type
 *     application/x-ndjson, as the node spools them), or, from nodes of earlier versions,
 *     {"activations":[<stored record>, ...]} (application/json)
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
#include "auth_messages.h"
#include "internal.h"
#include "controller.h"
#include "json.h"
#include "log.h"
#include "store.h"


bool internal_token_ok(const struct controller *ctl, const char *hdr)
{
	size_t n = strlen(ctl->node_token);

	return hdr && !strncasecmp(hdr, "Bearer ", 7) && strlen(hdr + 7) == n &&
	       !CRYPTO_memcmp(hdr + 7, ctl->node_token, n);
}

static bool node_authenticated(struct api_req *r)
{
	if (!internal_token_ok(r->ctl, http_req_header(r->http, "Authorization"))) {
		api_error(r, 401, AUTH_INVALID);
		return false;
	}
	return true;
}

/* A batch on its way to the store: the rows of the records accepted, and those refused
 * with why. */
struct batch {
	struct activation_batch rows;
	json_t *rejected;
};

static void batch_reject(struct api_req *r, struct batch *b, size_t index, const char *why)
{
	pr_warn("internal: rejecting activation record %zu from %s: %s", index, r->http->peer,
		why);
	json_array_append_new(b->rejected,
			      json_pack("{s:I,s:s}", "index", (json_int_t)index, "error", why));
}

/* Checks rec and adds its row, or records why not: rec may go afterwards. */
static int batch_take(struct api_req *r, struct batch *b, size_t index, json_t *rec,
		      const char *text, size_t len)
{
	const char *why = activation_check(rec);

	if (why) {
		batch_reject(r, b, index, why);
		return 0;
	}
	return activation_batch_add(&b->rows, rec, text, len);
}

/* The old body, {"activations": [record, ...]}: what nodes of earlier versions send.
 * Its records are dumped again for the store. Returns false after answering. */
static bool batch_from_document(struct api_req *r, struct batch *b)
{
	json_t *body = api_body_object(r), *list, *rec;
	bool ok = false;
	size_t i;

	if (!body)
		return false;
	list = json_object_get(body, "activations");
	if (!json_is_array(list) || json_array_size(list) > ACTIVATION_BATCH_MAX) {
		api_error(r, 400, "The request content was malformed:\nactivations must be an "
				  "array of at most %d records",
			  ACTIVATION_BATCH_MAX);
		goto out;
	}
	json_array_foreach(list, i, rec)
		if (batch_take(r, b, i, rec, NULL, 0)) {
			api_error(r, 503, "Out of memory.");
			goto out;
		}
	ok = true;
out:
	json_decref(body);
	return ok;
}

/* JSON lines, one record each, as the node's spool holds them: each line is validated
 * alone (a bad one is refused alone) and only the members its row needs are parsed
 * (activation_batch_add_text), that small tree let go as soon as its row is made; its
 * text is stored as it is, never dumped again; its newline, cut to a NUL, ends that text.
 * Returns false after answering. */
static bool batch_from_lines(struct api_req *r, struct batch *b)
{
	struct buf *body = &r->http->body;
	char *p = body->data, *end = body->data + body->len, *line;
	size_t index = 0, len;
	int err = 0;

	if (json_lines_count(p, end) > ACTIVATION_BATCH_MAX) {
		api_error(r, 400, "The request content was malformed:\nat most %d records a batch",
			  ACTIVATION_BATCH_MAX);
		return false;
	}
	while (!err && (line = json_lines_next(&p, end, &len))) {
		const char *refused;
		char why[160];
		json_t *rec;

		err = activation_batch_add_text(&b->rows, line, len, &refused);
		if (refused)
			batch_reject(r, b, index, refused);
		if (err == -EINVAL) { /* no skeleton: the whole parse, which also says why */
			rec = json_parse(line, len, why, sizeof(why));
			err = rec ? batch_take(r, b, index, rec, line, len) : 0;
			if (!rec)
				batch_reject(r, b, index, why);
			json_decref(rec);
		}
		index++;
	}
	if (err)
		api_error(r, 503, "Out of memory.");
	return !err;
}

static void store_activations(struct api_req *r)
{
	struct batch b = { .rejected = json_array() };
	int err;

	if (!(api_body_is_lines(r) ? batch_from_lines(r, &b) : batch_from_document(r, &b)))
		goto out;
	err = b.rows.n ? r->st->ops->activation_put(r->st, &b.rows) : 0;
	if (err) {
		api_error_store(r, err);
		goto out;
	}
	r->ctl->stats.activations_stored += b.rows.n;
	r->ctl->stats.activations_rejected += json_array_size(b.rejected);
	api_reply(r, 200, json_pack("{s:I,s:O}", "stored", (json_int_t)b.rows.n, "rejected",
				    b.rejected));
out:
	activation_batch_free(&b.rows);
	json_decref(b.rejected);
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
