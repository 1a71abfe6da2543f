// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "activation.h"
#include "node/ingress/authn.h"
#include "node/ingress/identity.h"
#include "node/activation/invocation.h"
#include "node/ingress/invoke.h"
#include "json.h"
#include "log.h"
#include "node/ingress/metrics.h"
#include "node/ingress/reply.h"
#include "node/activation/resolve.h"
#include "node/activation/record.h"
#include "node/activation/sequence.h"
#include "node/activation/throttle.h"
#include "util.h"
#include "node/ingress/worker.h"

#define BLOCKING_WAIT_MS 60000

struct invoke_req {
	struct worker *w;
	struct http_request *req;
	char tid[72];
	char ns[257], pkg[257], name[257];
	bool blocking, result_only;
	unsigned wait_ms;
	json_t *body;
	struct identity who;
	bool throttle_held;
	struct loop_timer *timer;
	struct invocation *inv; /* a primitive's, while it runs */
	struct sequence_run *seq;
	struct action_entry *seq_action; /* the sequence's, while it runs */
	char activation_id[33];
};

static void ir_free(struct invoke_req *ir)
{
	if (ir->timer)
		loop_timer_cancel(ir->w->loop, ir->timer);
	action_entry_unref(ir->seq_action);
	json_decref(ir->body);
	free(ir);
}

void reply_activation(struct http_request *req, const char *tid, const json_t *record,
		      bool result_only)
{
	json_t *resp = json_object_get(record, "response"), *result = json_object_get(resp, "result");
	int code = (int)json_integer_value(json_object_get(resp, "statusCode"));
	int status = code == ACTIVATION_SUCCESS ? 200 : code == ACTIVATION_WHISK_ERROR ? 500 : 502;

	http_resp_header(req, "x-openwhisk-activation-id", "%s",
			 json_string_value(json_object_get(record, "activationId")));
	/* The result alone needs no extended copy of the record: the common, fast case. */
	if (json_is_array(result) || result_only)
		reply_json(req, tid, status, json_ref_or_object(result));
	else
		reply_json(req, tid, status, activation_extended(record));
}

bool merge_parameters(const json_t *base, const json_t *request, bool final_params,
		      json_t **out)
{
	json_t *merged = base ? json_copy((json_t *)base) : json_object(), *v;
	const char *key;

	json_object_foreach((json_t *)request, key, v) {
		if (final_params && json_object_get(base, key)) {
			json_decref(merged);
			return false;
		}
		json_object_set(merged, key, v);
	}
	*out = merged;
	return true;
}

/* What the record says if the node stops before the activation ends. */
static json_t *ir_fallback(struct invoke_req *ir)
{
	const struct action_entry *a = ir->inv ? ir->inv->action : ir->seq_action;

	return record_interrupted(a, &ir->who, ir->activation_id, clock_real_ms(),
				  ir->seq ? "sequence" : NULL);
}

/* The activation finished: answer if the client still waits. */
static void ir_finished(struct invoke_req *ir, const json_t *record)
{
	if (ir->blocking)
		reply_activation(ir->req, ir->tid, record, ir->result_only);
	ir_free(ir);
}

static void on_primitive_done(struct invocation *inv, void *data)
{
	ir_finished(data, inv->record);
}

static void on_sequence_done(const json_t *record, void *data)
{
	ir_finished(data, record);
}

/* The blocking wait ran out: 202 now, the activation goes on without a listener. */
static void on_wait_over(struct loop *loop, void *data)
{
	struct invoke_req *ir = data;

	ir->timer = NULL;
	worker_accept(ir->w, ir->activation_id, ir_fallback(ir));
	http_resp_header(ir->req, "x-openwhisk-activation-id", "%s", ir->activation_id);
	reply_json(ir->req, ir->tid, 202, json_pack("{s:s}", "activationId", ir->activation_id));
	if (ir->inv) {
		ir->inv->done = NULL;
		ir->inv->done_data = NULL;
	}
	if (ir->seq)
		sequence_detach(ir->seq);
	ir_free(ir);
}

static void ir_fail(struct invoke_req *ir, int status, const char *msg)
{
	if (ir->throttle_held)
		throttle_release(&ir->w->node->maps->namespaces[ir->who.ns_idx]);
	reply_error(ir->req, ir->tid, status, "%s", msg);
	ir_free(ir);
}

static void on_action(int status, struct action_entry *a, const char *message, void *data)
{
	struct invoke_req *ir = data;
	struct worker *w = ir->w;
	json_t *params = NULL;

	if (status) {
		ir_fail(ir, status, message);
		return;
	}
	if (!merge_parameters(a->run_params, ir->body, a->final_params, &params)) {
		action_entry_unref(a);
		ir_fail(ir, 400, "Request defines parameters that are not allowed (e.g., reserved "
				 "properties).");
		return;
	}
	if (a->xkind == XW_KIND_SEQUENCE) {
		ir->seq = sequence_start(w, a, &ir->who, params, ir->tid, NULL, ir->throttle_held,
					 ir->blocking ? on_sequence_done : NULL, ir);
		ir->seq_action = a; /* our reference, for the fallback record */
		if (!ir->seq) {
			ir_fail(ir, 500, "The sequence could not be started.");
			return;
		}
		ir->throttle_held = false;
		snprintf(ir->activation_id, sizeof(ir->activation_id), "%s",
			 sequence_activation_id(ir->seq));
		goto started;
	}
	ir->inv = invocation_new(w, a, &ir->who, params, ir->tid);
	action_entry_unref(a);
	if (!ir->inv) {
		ir_fail(ir, 500, "Internal Server Error");
		return;
	}
	snprintf(ir->activation_id, sizeof(ir->activation_id), "%s", ir->inv->activation_id);
	ir->inv->done = ir->blocking ? on_primitive_done : NULL;
	ir->inv->done_data = ir->blocking ? ir : NULL;
	if (invocation_start(ir->inv, ir->throttle_held)) {
		/* Its queue is full: nothing ran, nothing is recorded. */
		invocation_free(ir->inv);
		ir->inv = NULL;
		STAT_INC(w, queue_full);
		if (ir->throttle_held)
			throttle_release(&w->node->maps->namespaces[ir->who.ns_idx]);
		http_resp_header(ir->req, "Retry-After", "1");
		reply_error(ir->req, ir->tid, 429,
			    "Too many requests are waiting for this action; try again later.");
		ir_free(ir);
		return;
	}
	ir->throttle_held = false;
started:
	if (!ir->blocking) {
		/* Only for an activation that started (a refused one has nothing to settle);
		 * before its record can be: no activation ends inside invocation_start(). */
		worker_accept(w, ir->activation_id, ir_fallback(ir));
		http_resp_header(ir->req, "x-openwhisk-activation-id", "%s", ir->activation_id);
		reply_json(ir->req, ir->tid, 202,
			   json_pack("{s:s}", "activationId", ir->activation_id));
		ir_free(ir);
		return;
	}
	/* ir lives until the activation ends or the wait runs out, whichever comes first. */
	ir->timer = loop_timer_add(w->loop, ir->wait_ms, on_wait_over, ir);
}

static void with_identity(struct invoke_req *ir)
{
	struct throttle_result t;
	char name[800], msg[160];

	t = throttle_invoke(&ir->w->node->maps->namespaces[ir->who.ns_idx], clock_real_ms());
	if (t.verdict != THROTTLE_OK) {
		STAT_INC(ir->w, throttled);
		throttle_message(&t, msg, sizeof(msg));
		reply_throttled(ir->req, ir->tid, msg, t.retry_after_s);
		ir_free(ir);
		return;
	}
	ir->throttle_held = true;
	resolve_name(&ir->who, ir->ns, ir->pkg, ir->name, name, sizeof(name));
	resolve_action(ir->w, &ir->who, name, on_action, ir);
}

static void on_authenticated(const struct identity *who, void *data)
{
	struct invoke_req *ir = data;

	ir->who = *who;
	with_identity(ir);
}

static void on_auth_failed(void *data)
{
	ir_free(data);
}

static bool parse_request(struct invoke_req *ir)
{
	struct http_request *req = ir->req;
	const char *ct = http_req_header(req, "Content-Type");
	char *v;

	ir->blocking = false;
	ir->wait_ms = BLOCKING_WAIT_MS;
	v = query_get(req->query, "blocking");
	ir->blocking = v && str_is_true(v);
	free(v);
	v = query_get(req->query, "result");
	ir->result_only = v && str_is_true(v);
	free(v);
	v = query_get(req->query, "timeout");
	if (v) {
		uint64_t t;

		if (parse_u64(v, &t) || t == 0 || t > BLOCKING_WAIT_MS) {
			free(v);
			reply_error(req, ir->tid, 400,
				    "Timeout must be number of milliseconds up to 60000.");
			return false;
		}
		ir->wait_ms = (unsigned)t;
		free(v);
	}
	if (request_oversize(req)) {
		reply_error(req, ir->tid, 413, PAYLOAD_TOO_LARGE, request_oversize(req), PAYLOAD_MAX);
		return false;
	}
	if (req->body.len && strspn(req->body.data, " \t\r\n") != req->body.len) {
		char err[256];

		if (ct && !media_is_json(ct)) {
			reply_error(req, ir->tid, 415,
				    "The request's Content-Type is not supported. Expected:\n"
				    "application/json");
			return false;
		}
		ir->body = json_parse(req->body.data, req->body.len, err, sizeof(err));
		if (!ir->body) {
			reply_error(req, ir->tid, 400, "The request content was malformed:\n%s", err);
			return false;
		}
		if (!json_is_object(ir->body)) {
			reply_error(req, ir->tid, 400,
				    "The request content was malformed:\nObject expected");
			return false;
		}
	} else {
		ir->body = json_object();
	}
	return true;
}

void invoke_http(struct worker *w, struct http_request *req, const char *tid, const char *ns,
		 const char *pkg, const char *name)
{
	struct invoke_req *ir = calloc(1, sizeof(*ir));

	if (!ir) {
		reply_error(req, tid, 503, "The node is out of memory.");
		return;
	}
	ir->w = w;
	ir->req = req;
	snprintf(ir->tid, sizeof(ir->tid), "%s", tid);
	snprintf(ir->ns, sizeof(ir->ns), "%s", ns);
	snprintf(ir->pkg, sizeof(ir->pkg), "%s", pkg ? pkg : "");
	snprintf(ir->name, sizeof(ir->name), "%s", name);
	/* OpenWhisk authenticates before it reads the request. */
	if (!http_req_header(req, "Authorization")) {
		reply_error(req, tid, 401, "The resource requires authentication, which was not "
					   "supplied with the request");
		ir_free(ir);
		return;
	}
	if (!parse_request(ir)) {
		ir_free(ir);
		return;
	}
	authn_request(w, req, ir->tid, on_authenticated, on_auth_failed, ir);
}
