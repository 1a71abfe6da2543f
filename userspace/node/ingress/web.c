// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "node/ingress/identity.h"
#include "node/activation/pipeline.h"
#include "json.h"
#include "log.h"
#include "node/ingress/metrics.h"
#include "node/ingress/reply.h"
#include "node/activation/record.h"
#include "node/activation/resolve.h"
#include "node/ingress/stream.h"
#include "util.h"
#include "node/ingress/web.h"
#include "node/ingress/web_cache.h"
#include "node/ingress/web_response.h"
#include "node/ingress/worker.h"

#define WEB_WAIT_MS 60000

struct web_req {
	struct worker *w;
	struct http_request *req;
	char tid[72];
	char ns[257], pkg[257], action[257];
	char *extra_path; /* __ow_path */
	enum web_ext ext;
	struct identity owner;
	struct identity caller; /* ns empty when anonymous */
	bool authed;
	struct action_entry *a;
	char activation_id[33];
	struct web_cache_use cache;
};

static void wr_free(struct web_req *wr)
{
	action_entry_unref(wr->a);
	free(wr->extra_path);
	free(wr);
}

static void cors_headers(struct http_request *req)
{
	const char *asked = http_req_header(req, "Access-Control-Request-Headers");

	http_resp_header(req, "Access-Control-Allow-Origin", "*");
	http_resp_header(req, "Access-Control-Allow-Methods",
			 "OPTIONS, GET, DELETE, POST, PUT, HEAD, PATCH");
	http_resp_header(req, "Access-Control-Allow-Headers", "%s",
			 asked ? asked
			       : "Authorization, Origin, X-Requested-With, Content-Type, Accept, "
				 "User-Agent");
}

/* Answers with CORS (unless the action handles OPTIONS itself) and the activation id. */
static void web_send(struct web_req *wr, int status, const char *ctype, const void *body,
		     size_t len)
{
	if (!wr->a || !wr->a->web_custom_options)
		cors_headers(wr->req);
	if (wr->activation_id[0])
		http_resp_header(wr->req, "x-openwhisk-activation-id", "%s", wr->activation_id);
	http_resp_header(wr->req, "X-Request-ID", "%s", wr->tid);
	http_resp_send(wr->req, status, ctype, body, len);
}

static void web_error(struct web_req *wr, int status, const char *message)
{
	char big[96];
	json_t *b;
	char *text;

	/* A body over 1 MB left unread in case the action streams (stream.c): unless it
	 * does, the answer is the 413 it always was, before any other. */
	if (wr->req->early && request_oversize(wr->req) && (!wr->a || !wr->a->web_stream)) {
		snprintf(big, sizeof(big), PAYLOAD_TOO_LARGE, request_oversize(wr->req), PAYLOAD_MAX);
		status = 413;
		message = big;
	}
	b = json_pack("{s:s,s:s}", "error", message, "code", wr->tid);
	text = json_dumps(b, JSON_COMPACT);

	web_send(wr, status, "application/json", text, text ? strlen(text) : 0);
	free(text);
	json_decref(b);
}

/* ---- the response ---- */

static void web_finished(struct web_req *wr, struct record *record)
{
	const json_t *result;
	struct web_response r;
	json_t *h;
	size_t i;

	if (!record->text.len) { /* record_write ran out of memory */
		web_error(wr, 500, "The node is out of memory.");
		wr_free(wr);
		return;
	}
	result = record_result(record);
	web_response_build(record->status, result, wr->ext, &r);
	if (r.error) {
		web_error(wr, 400, r.error);
	} else {
		web_cache_store(wr->w->node->results, &wr->cache, wr->req, wr->a,
				wr->owner.ns_idx, record->status, result, &r, clock_real_ms());
		json_array_foreach(r.headers, i, h)
			http_resp_header(wr->req, json_string_value(json_array_get(h, 0)), "%s",
					 json_string_value(json_array_get(h, 1)));
		if (wr->cache.hit)
			http_resp_header(wr->req, "Age", "%llu", (unsigned long long)wr->cache.age_s);
		web_send(wr, web_cache_status(wr->req, &r), r.ctype, r.body, r.len);
	}
	web_response_clear(&r);
	wr_free(wr);
}

/* The activation ended (record), or the wait ran out first (NULL). */
static void on_web_end(struct record *record, void *data)
{
	struct web_req *wr = data;

	if (record) {
		web_finished(wr, record);
		return;
	}
	web_error(wr, 202, "Response not yet ready.");
	wr_free(wr);
}

/* ---- the request ---- */

static bool reserved(const struct web_req *wr, const char *key)
{
	return !strncmp(key, "__ow_", 5) ||
	       (wr->a->final_params && json_object_get(wr->a->run_params, key));
}

/* Adds form or query pairs as string parameters; false on a reserved name. */
static bool add_pairs(struct web_req *wr, json_t *params, const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)) ?: end;
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		char *k = url_decode(p, (size_t)((eq ? eq : amp) - p), true);
		char *v = eq ? url_decode(eq + 1, (size_t)(amp - eq - 1), true) : strdup("");

		if (k && *k) {
			if (reserved(wr, k)) {
				free(k);
				free(v);
				return false;
			}
			json_object_set_new(params, k, json_string(v ? v : ""));
		}
		free(k);
		free(v);
		p = amp + 1;
	}
	return true;
}

static json_t *web_params(struct web_req *wr)
{
	struct http_request *req = wr->req;
	const char *ct = http_req_header(req, "Content-Type");
	/* Shallow: only top-level keys are set here; the action's values stay shared. */
	json_t *params = json_copy(wr->a->run_params);
	char method[16];
	size_t i;

	for (i = 0; i < sizeof(method) - 1 && http_method_str(req->method)[i]; i++)
		method[i] = (char)tolower((unsigned char)http_method_str(req->method)[i]);
	method[i] = '\0';
	if (wr->a->raw_http) {
		char *b64 = NULL;

		json_object_set_new(params, "__ow_query", json_string(req->query ? req->query : ""));
		if (req->body.len && (media_is_binary(ct) || media_is_json(ct)))
			b64 = base64_encode(req->body.data, req->body.len);
		json_object_set_new(params, "__ow_body",
				    b64 ? json_string(b64)
					: json_stringn(req->body.data ? req->body.data : "",
						       req->body.len));
		free(b64);
	} else {
		if (req->query && !add_pairs(wr, params, req->query, strlen(req->query)))
			goto reserved;
		if (req->body.len) {
			json_t *j = media_is_json(ct) ? json_parse(req->body.data, req->body.len, NULL, 0)
						      : NULL;
			const char *key;
			json_t *v;

			if (json_is_object(j)) {
				json_object_foreach(j, key, v) {
					if (reserved(wr, key)) {
						json_decref(j);
						goto reserved;
					}
					json_object_set(params, key, v);
				}
			} else if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)) {
				if (!add_pairs(wr, params, req->body.data, req->body.len)) {
					json_decref(j);
					goto reserved;
				}
			} else if (media_is_binary(ct)) {
				char *b64 = base64_encode(req->body.data, req->body.len);

				json_object_set_new(params, "__ow_body", json_string(b64 ? b64 : ""));
				free(b64);
			} else {
				json_object_set_new(params, "__ow_body",
						    json_stringn(req->body.data, req->body.len));
			}
			json_decref(j);
		}
	}
	json_object_set_new(params, "__ow_method", json_string(method));
	json_object_set_new(params, "__ow_headers", request_headers_json(req));
	json_object_set_new(params, "__ow_path", json_string(wr->extra_path ? wr->extra_path : ""));
	if (wr->authed)
		json_object_set_new(params, "__ow_user", json_string(wr->caller.ns));
	return params;
reserved:
	json_decref(params);
	return NULL;
}

static void web_run(struct web_req *wr)
{
	struct result_cache *rc = wr->w->node->results;
	struct activation_refusal why;
	struct activation *act;
	json_t *params, *cached = NULL;

	/* An xwhisk extension: a web-stream action gets the connection itself (stream.c). */
	if (!stream_web(&(struct stream_call){ .w = wr->w, .req = wr->req, .tid = wr->tid,
					       .a = wr->a, .owner = &wr->owner,
					       .user = wr->authed ? wr->caller.ns : NULL })) {
		wr_free(wr);
		return;
	}
	params = web_params(wr);
	if (!params) {
		web_error(wr, 400, "Request defines parameters that are not allowed (e.g., reserved "
				   "properties).");
		wr_free(wr);
		return;
	}
	act = activation_admit(wr->w, &wr->owner, true, &why);
	if (!act)
		json_decref(params);
	/* Admitted first: a hit counts against the owner's throttles like a run. */
	if (act) {
		web_cache_prepare(rc, &wr->cache, wr->req, wr->a, wr->ext, wr->extra_path,
				  wr->authed ? wr->caller.ns : NULL);
		cached = web_cache_lookup(rc, &wr->cache, wr->req, clock_real_ms());
	}
	if (!act || activation_start(act,
				     &(struct activation_spec){
					     .action = wr->a,
					     .tid = wr->tid,
					     .params = params,
					     .params_mode = PARAMS_AS_IS,
					     .wait_ms = WEB_WAIT_MS,
					     .listener = on_web_end,
					     .data = wr,
					     .cached = cached,
				     },
				     wr->activation_id, &why)) {
		if (why.status == 429)
			http_resp_header(wr->req, "Retry-After", "%u", why.retry_after_s ?: 1);
		web_error(wr, why.status, why.message);
		wr_free(wr);
	}
	json_decref(cached);
}

static void check_auth_then_run(struct web_req *wr);

static void on_caller(int status, const struct identity *id, void *data)
{
	struct web_req *wr = data;

	if (!status) {
		wr->caller = *id;
		wr->authed = true;
	}
	check_auth_then_run(wr);
}

static void check_auth_then_run(struct web_req *wr)
{
	json_t *rwa = wr->a->require_whisk_auth;

	if (json_is_true(rwa) && !wr->authed) {
		web_error(wr, 401, "The resource requires authentication, which was not supplied "
				   "with the request");
		wr_free(wr);
		return;
	}
	if (rwa && (json_is_string(rwa) || json_is_integer(rwa))) {
		const char *given = http_req_header(wr->req, "X-Require-Whisk-Auth");
		char want[64];

		if (json_is_string(rwa))
			snprintf(want, sizeof(want), "%s", json_string_value(rwa));
		else
			snprintf(want, sizeof(want), "%lld", (long long)json_integer_value(rwa));
		if (!given || strcmp(given, want)) {
			web_error(wr, 401, "The supplied authentication is invalid");
			wr_free(wr);
			return;
		}
	}
	web_run(wr);
}

static void on_web_action(int status, struct action_entry *a, const char *message, void *data)
{
	struct web_req *wr = data;
	const char *authz = http_req_header(wr->req, "Authorization");

	if (status || !a->web_export) {
		action_entry_unref(a);
		web_error(wr, status == 503 ? 503 : 404, status == 503
								 ? "The controller is not reachable."
								 : "The requested resource does not exist.");
		wr_free(wr);
		return;
	}
	wr->a = a;
	if (wr->req->method == HTTP_OPTIONS && !a->web_custom_options) {
		web_send(wr, 200, NULL, NULL, 0);
		wr_free(wr);
		return;
	}
	/* Credentials are optional: valid ones tell the action who calls (__ow_user). */
	if (authz) {
		int err = identity_lookup(wr->w->node, wr->w->ids, authz, &wr->caller);

		if (!err) {
			wr->authed = true;
		} else if (err == -EAGAIN &&
			   !identity_fetch(wr->w->node, wr->w->ctl, authz, on_caller, wr)) {
			return;
		}
	}
	check_auth_then_run(wr);
}

static void with_owner(struct web_req *wr)
{
	char name[800];

	resolve_name(&wr->owner, wr->ns, strcmp(wr->pkg, "default") ? wr->pkg : NULL, wr->action,
		     name, sizeof(name));
	resolve_action(wr->w, &wr->owner, name, on_web_action, wr);
}

static void on_owner(int status, const struct identity *id, void *data)
{
	struct web_req *wr = data;

	if (status) {
		web_error(wr, status == 503 ? 503 : 404, status == 503
								 ? "The controller is not reachable."
								 : "The requested resource does not exist.");
		wr_free(wr);
		return;
	}
	wr->owner = *id;
	with_owner(wr);
}

static const struct {
	const char *suffix;
	enum web_ext ext;
} extensions[] = {
	{ ".json", EXT_JSON }, { ".html", EXT_HTML }, { ".http", EXT_HTTP },
	{ ".svg", EXT_SVG },   { ".text", EXT_TEXT },
};

/* Splits "ns/pkg/action.ext/extra..." into its parts; false when too short. */
static bool parse_path(struct web_req *wr, const char *rest)
{
	char *segs[3] = { NULL, NULL, NULL }, *p;
	const char *cur = rest, *extra = NULL;
	bool ok = false;
	size_t len;

	for (int i = 0; i < 3; i++) {
		const char *slash = strchr(cur, '/');

		len = slash ? (size_t)(slash - cur) : strlen(cur);
		segs[i] = url_decode(cur, len, false);
		if (!segs[i] || !*segs[i])
			goto out;
		if (i < 2 && !slash)
			goto out;
		cur = slash ? slash + 1 : cur + len;
		if (i == 2 && slash)
			extra = slash;
	}
	snprintf(wr->ns, sizeof(wr->ns), "%s", segs[0]);
	snprintf(wr->pkg, sizeof(wr->pkg), "%s", segs[1]);
	wr->ext = EXT_HTTP;
	p = segs[2];
	for (size_t i = 0; i < sizeof(extensions) / sizeof(extensions[0]); i++) {
		size_t sl = strlen(extensions[i].suffix), pl = strlen(p);

		if (pl > sl && !strcmp(p + pl - sl, extensions[i].suffix)) {
			p[pl - sl] = '\0';
			wr->ext = extensions[i].ext;
			break;
		}
	}
	snprintf(wr->action, sizeof(wr->action), "%s", p);
	wr->extra_path = extra ? url_decode(extra, strlen(extra), false) : strdup("");
	ok = wr->extra_path != NULL;
out:
	for (int i = 0; i < 3; i++)
		free(segs[i]);
	return ok;
}

void web_http(struct worker *w, struct http_request *req, const char *tid, const char *rest)
{
	struct web_req *wr = calloc(1, sizeof(*wr));

	if (!wr) {
		reply_error(req, tid, 503, "The node is out of memory.");
		return;
	}
	wr->w = w;
	wr->req = req;
	snprintf(wr->tid, sizeof(wr->tid), "%s", tid);
	if (!parse_path(wr, rest)) {
		web_error(wr, 404, "The requested resource does not exist.");
		wr_free(wr);
		return;
	}
	/* An early request's body is unread: stream.c sizes it up once the action is known. */
	if (request_oversize(req) && !req->early) {
		char msg[96];

		snprintf(msg, sizeof(msg), PAYLOAD_TOO_LARGE, request_oversize(req), PAYLOAD_MAX);
		web_error(wr, 413, msg);
		wr_free(wr);
		return;
	}
	if (!identity_lookup_namespace(w->node, wr->ns, &wr->owner)) {
		with_owner(wr);
		return;
	}
	if (identity_fetch_namespace(w->node, w->ctl, wr->ns, on_owner, wr)) {
		web_error(wr, 503, "The controller is not reachable.");
		wr_free(wr);
	}
}

json_t *web_request_params(struct http_request *req, const char *rest, struct action_entry *a,
			   const char *user)
{
	struct web_req wr = { .req = req, .a = a, .authed = user != NULL };
	json_t *params = NULL;

	if (user)
		snprintf(wr.caller.ns, sizeof(wr.caller.ns), "%s", user);
	if (parse_path(&wr, rest))
		params = web_params(&wr);
	free(wr.extra_path);
	return params;
}
