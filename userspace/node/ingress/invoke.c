// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "activation.h"
#include "node/ingress/authn.h"
#include "node/ingress/http_cache.h"
#include "node/ingress/identity.h"
#include "node/ingress/invoke.h"
#include "node/activation/pipeline.h"
#include "json.h"
#include "log.h"
#include "node/ingress/metrics.h"
#include "node/ingress/reply.h"
#include "node/activation/resolve.h"
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
	struct activation *act; /* admitted, until it starts */
	char id[33];            /* once started */
};

static void ir_free(struct invoke_req *ir)
{
	activation_abandon(ir->act);
	json_decref(ir->body);
	free(ir);
}

void reply_activation(struct http_request *req, const char *tid, struct record *record,
		      bool result_only)
{
	const char *result = record->text.data + record->result_off;
	size_t len = record->result_len;
	struct buf extended = BUF_INIT;
	int code = record->status;
	int status = code == ACTIVATION_SUCCESS ? 200 : code == ACTIVATION_WHISK_ERROR ? 500 : 502;

	if (!record->text.len) { /* record_write ran out of memory */
		reply_error(req, tid, 500, "The node is out of memory.");
		return;
	}
	http_resp_header(req, "x-openwhisk-activation-id", "%s", record->activation_id);
	if (!len) {
		reply_json(req, tid, status, json_object());
		return;
	}
	/* The result alone is the record's text of it, as it is: the common, fast case. */
	if (result_only || result[0] == '[') {
		reply_json_text(req, tid, status, result, len);
		return;
	}
	if (record_write_extended(record, &extended))
		reply_error(req, tid, 500, "The node is out of memory.");
	else
		reply_json_text(req, tid, status, extended.data, extended.len);
	buf_free(&extended);
}

static void reply_accepted(struct invoke_req *ir, const char *id)
{
	http_resp_header(ir->req, "x-openwhisk-activation-id", "%s", id);
	reply_json(ir->req, ir->tid, 202, json_pack("{s:s}", "activationId", id));
}

static void reply_refusal(struct invoke_req *ir, const struct activation_refusal *why)
{
	if (why->status == 429)
		reply_throttled(ir->req, ir->tid, why->message, why->retry_after_s);
	else
		reply_error(ir->req, ir->tid, why->status, "%s", why->message);
}

/* The activation ended (record), or the blocking wait ran out first (NULL: 202). */
static void on_activation_end(struct record *record, void *data)
{
	struct invoke_req *ir = data;

	if (record)
		reply_activation(ir->req, ir->tid, record, ir->result_only);
	else
		reply_accepted(ir, ir->id);
	ir_free(ir);
}

static void on_action(int status, struct action_entry *a, const char *message, void *data)
{
	struct invoke_req *ir = data;
	struct activation_refusal why;
	struct activation *act = ir->act;
	unsigned asked = http_cache_request(ir->req);
	char id[33];
	int err;

	if (status) {
		reply_error(ir->req, ir->tid, status, "%s", message);
		ir_free(ir);
		return;
	}
	ir->act = NULL;
	err = activation_start(act,
			       &(struct activation_spec){
				       .action = a,
				       .tid = ir->tid,
				       .params = ir->body,
				       .params_mode = PARAMS_MERGE_STRICT,
				       .wait_ms = ir->blocking ? ir->wait_ms : ACTIVATION_NO_WAIT,
				       .listener = on_activation_end,
				       .data = ir,
				       /* Only a client that waits is answered from the cache. */
				       .cache_read = ir->blocking && !(asked & HTTP_CACHE_NO_CACHE),
				       .cache_store = !(asked & HTTP_CACHE_NO_STORE),
			       },
			       id, &why);
	ir->body = NULL;
	action_entry_unref(a);
	if (err) {
		reply_refusal(ir, &why);
		ir_free(ir);
		return;
	}
	if (!ir->blocking) {
		reply_accepted(ir, id);
		ir_free(ir);
		return;
	}
	/* ir lives until the listener hears the end or the end of the wait. */
	str_copy(ir->id, sizeof(ir->id), id);
}

static bool parse_request(struct invoke_req *ir);

static void on_authenticated(const struct identity *who, void *data)
{
	struct invoke_req *ir = data;
	struct activation_refusal why;
	char name[800];

	ir->who = *who;
	/* Read only for a caller whose credentials hold, as OpenWhisk does. */
	if (!parse_request(ir)) {
		ir_free(ir);
		return;
	}
	ir->act = activation_admit(ir->w, &ir->who, true, &why);
	if (!ir->act) {
		reply_refusal(ir, &why);
		ir_free(ir);
		return;
	}
	resolve_name(&ir->who, ir->ns, ir->pkg, ir->name, name, sizeof(name));
	resolve_action(ir->w, &ir->who, name, on_action, ir);
}

static void on_auth_failed(void *data)
{
	ir_free(data);
}

static bool parse_request(struct invoke_req *ir)
{
	struct http_request *req = ir->req;
	const char *ct = http_req_header(req, "Content-Type");
	char v[64]; /* longer is neither "true" nor a timeout anyone means */
	int err;

	ir->blocking = !query_copy(req->query, "blocking", v, sizeof(v)) && str_is_true(v);
	ir->result_only = !query_copy(req->query, "result", v, sizeof(v)) && str_is_true(v);
	ir->wait_ms = BLOCKING_WAIT_MS;
	err = query_copy(req->query, "timeout", v, sizeof(v));
	if (err != -ENOENT) {
		uint64_t t;

		if (err || parse_u64(v, &t) || t == 0 || t > BLOCKING_WAIT_MS) {
			reply_error(req, ir->tid, 400,
				    "Timeout must be number of milliseconds up to 60000.");
			return false;
		}
		ir->wait_ms = (unsigned)t;
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
	struct invoke_req *ir = zalloc(sizeof(*ir));

	if (!ir) {
		reply_error(req, tid, 503, "The node is out of memory.");
		return;
	}
	ir->w = w;
	ir->req = req;
	str_copy(ir->tid, sizeof(ir->tid), tid);
	str_copy(ir->ns, sizeof(ir->ns), ns);
	str_copy(ir->pkg, sizeof(ir->pkg), pkg ? pkg : "");
	str_copy(ir->name, sizeof(ir->name), name);
	/* OpenWhisk authenticates before it reads the request. */
	if (!http_req_header(req, "Authorization")) {
		reply_error(req, tid, 401, "The resource requires authentication, which was not "
					   "supplied with the request");
		ir_free(ir);
		return;
	}
	authn_request(w, req, ir->tid, on_authenticated, on_auth_failed, ir);
}
