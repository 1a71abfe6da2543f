// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "node/ingress/identity.h"
#include "node/activation/invocation.h"
#include "node/ingress/invoke.h"
#include "json.h"
#include "log.h"
#include "node/ingress/metrics.h"
#include "node/ingress/reply.h"
#include "node/activation/record.h"
#include "node/activation/resolve.h"
#include "node/activation/sequence.h"
#include "node/activation/throttle.h"
#include "util.h"
#include "node/ingress/web.h"
#include "node/ingress/worker.h"

#define WEB_WAIT_MS 60000

enum web_ext { EXT_HTTP, EXT_JSON, EXT_HTML, EXT_SVG, EXT_TEXT };

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
	struct loop_timer *timer;
	struct invocation *inv;
	struct sequence_run *seq;
	bool throttle_held;
};

static void wr_free(struct web_req *wr)
{
	if (wr->timer)
		loop_timer_cancel(wr->w->loop, wr->timer);
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
	json_t *b = json_pack("{s:s,s:s}", "error", message, "code", wr->tid);
	char *text = json_dumps(b, JSON_COMPACT);

	if (wr->throttle_held) {
		throttle_release(&wr->w->node->maps->namespaces[wr->owner.ns_idx]);
		wr->throttle_held = false;
	}
	web_send(wr, status, "application/json", text, text ? strlen(text) : 0);
	free(text);
	json_decref(b);
}

static bool media_is_binary(const char *ct)
{
	char base[128];
	size_t n;

	if (!ct)
		return false;
	n = strcspn(ct, ";");
	if (n >= sizeof(base))
		n = sizeof(base) - 1;
	memcpy(base, ct, n);
	base[n] = '\0';
	for (char *p = base; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!strncmp(base, "text/", 5) || strstr(base, "json") || strstr(base, "xml") ||
	    strstr(base, "javascript") || !strcmp(base, "application/x-www-form-urlencoded"))
		return false;
	return true;
}

/* ---- the response ---- */

static json_t *web_value(struct web_req *wr, const json_t *record, int *code)
{
	json_t *resp = json_object_get(record, "response"), *result = json_object_get(resp, "result");

	*code = (int)json_integer_value(json_object_get(resp, "statusCode"));
	if (*code == ACTIVATION_APPLICATION_ERROR && json_object_get(result, "error"))
		return json_object_get(result, "error");
	return result;
}

static void send_http_result(struct web_req *wr, const json_t *v)
{
	json_t *status = json_object_get(v, "statusCode"), *headers = json_object_get(v, "headers");
	json_t *body = json_object_get(v, "body"), *hv;
	const char *ctype = NULL, *key;
	long code = 200;

	if (status) {
		if (json_is_integer(status))
			code = (long)json_integer_value(status);
		else if (json_is_string(status) && *json_string_value(status))
			code = strtol(json_string_value(status), NULL, 10);
		else
			code = 0;
		if (code < 100 || code > 599)
			goto bad;
	}
	if (headers && !json_is_object(headers))
		goto bad;
	json_object_foreach(headers, key, hv) {
		char val[2048];
		json_t *item;
		size_t i;

		if (json_is_array(hv)) {
			json_array_foreach(hv, i, item)
				if (!json_is_string(item) && !json_is_number(item) &&
				    !json_is_boolean(item))
					goto bad;
		} else if (!json_is_string(hv) && !json_is_number(hv) && !json_is_boolean(hv)) {
			goto bad;
		}
		if (!strcasecmp(key, "content-type") && json_is_string(hv)) {
			ctype = json_string_value(hv);
			continue;
		}
		if (!strcasecmp(key, "content-length") || !strcasecmp(key, "transfer-encoding") ||
		    !strcasecmp(key, "connection"))
			continue;
		json_array_foreach(json_is_array(hv) ? hv : NULL, i, item) {
			char *t = json_is_string(item) ? strdup(json_string_value(item))
						       : json_dumps(item, JSON_ENCODE_ANY);

			http_resp_header(wr->req, key, "%s", t ? t : "");
			free(t);
		}
		if (!json_is_array(hv)) {
			char *t = json_is_string(hv) ? strdup(json_string_value(hv))
						     : json_dumps(hv, JSON_ENCODE_ANY);

			snprintf(val, sizeof(val), "%s", t ? t : "");
			free(t);
			http_resp_header(wr->req, key, "%s", val);
		}
	}
	if (!body || json_is_null(body) || (json_is_string(body) && !json_string_length(body))) {
		web_send(wr, status ? (int)code : 204, NULL, NULL, 0);
		return;
	}
	if (json_is_string(body)) {
		const char *s = json_string_value(body);
		size_t len = json_string_length(body), dlen;
		char *decoded = NULL;

		if (!ctype)
			ctype = "text/html";
		if (media_is_binary(ctype) || (media_is_json(ctype) && base64_looks_binary(s, len))) {
			decoded = base64_decode(s, len, &dlen);
			if (!decoded) {
				if (media_is_binary(ctype))
					goto bad;
			} else {
				web_send(wr, (int)code, ctype, decoded, dlen);
				free(decoded);
				return;
			}
		}
		web_send(wr, (int)code, ctype, s, len);
		return;
	}
	{
		char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);

		if (!ctype || !media_is_json(ctype))
			ctype = "application/json";
		web_send(wr, (int)code, ctype, text, text ? strlen(text) : 0);
		free(text);
	}
	return;
bad:
	web_error(wr, 400, "Response is not valid 'message/http'.");
}

static void send_field(struct web_req *wr, const json_t *v, const char *field, const char *ctype,
		       const char *what, bool pretty_objects)
{
	json_t *body = json_object_get(v, "body");

	if (!body)
		body = json_object_get(v, field);
	if (json_is_string(body)) {
		web_send(wr, 200, ctype, json_string_value(body), json_string_length(body));
		return;
	}
	if (pretty_objects && body) {
		char *text = json_dumps(body, JSON_INDENT(2) | JSON_ENCODE_ANY);

		web_send(wr, 200, ctype, text, text ? strlen(text) : 0);
		free(text);
		return;
	}
	{
		char msg[80];

		snprintf(msg, sizeof(msg), "Response is not valid '%s'.", what);
		web_error(wr, 400, msg);
	}
}

static void web_finished(struct web_req *wr, const json_t *record)
{
	int code;
	const json_t *v = web_value(wr, record, &code);

	if (code >= ACTIVATION_DEVELOPER_ERROR) {
		web_error(wr, 400, "There was an error processing your request.");
		goto out;
	}
	switch (wr->ext) {
	case EXT_JSON:
		if (!json_is_object(v) && !json_is_array(v)) {
			web_error(wr, 400, "Response is not valid 'application/json'.");
		} else {
			char *text = json_dumps(v, JSON_COMPACT);

			web_send(wr, 200, "application/json", text, text ? strlen(text) : 0);
			free(text);
		}
		break;
	case EXT_HTML:
		send_field(wr, v, "html", "text/html; charset=UTF-8", "text/html", false);
		break;
	case EXT_SVG:
		send_field(wr, v, "svg", "image/svg+xml", "image/svg+xml", false);
		break;
	case EXT_TEXT:
		send_field(wr, v, "text", "text/plain; charset=UTF-8", "text/plain", true);
		break;
	case EXT_HTTP:
		send_http_result(wr, v);
		break;
	}
out:
	wr_free(wr);
}

static void on_primitive_done(struct invocation *inv, void *data)
{
	web_finished(data, inv->record);
}

static void on_sequence_done(const json_t *record, void *data)
{
	web_finished(data, record);
}

static void on_web_wait_over(struct loop *loop, void *data)
{
	struct web_req *wr = data;

	wr->timer = NULL;
	worker_accept(wr->w, wr->activation_id,
		      record_interrupted(wr->a, &wr->owner, wr->activation_id, clock_real_ms(),
					 wr->seq ? "sequence" : NULL));
	if (wr->inv) {
		wr->inv->done = NULL;
		wr->inv->done_data = NULL;
	}
	if (wr->seq)
		sequence_detach(wr->seq);
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
			json_t *j = media_is_json(ct) ? json_loadb(req->body.data, req->body.len, 0, NULL)
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
	struct worker *w = wr->w;
	struct throttle_result t;
	json_t *params;
	char msg[160];

	params = web_params(wr);
	if (!params) {
		web_error(wr, 400, "Request defines parameters that are not allowed (e.g., reserved "
				   "properties).");
		wr_free(wr);
		return;
	}
	t = throttle_invoke(&w->node->maps->namespaces[wr->owner.ns_idx], clock_real_ms());
	if (t.verdict != THROTTLE_OK) {
		json_decref(params);
		STAT_INC(w, throttled);
		throttle_message(&t, msg, sizeof(msg));
		http_resp_header(wr->req, "Retry-After", "%u", t.retry_after_s);
		web_error(wr, 429, msg);
		wr_free(wr);
		return;
	}
	wr->throttle_held = true;
	if (wr->a->xkind == XW_KIND_SEQUENCE) {
		wr->seq = sequence_start(w, wr->a, &wr->owner, params, wr->tid, NULL, true,
					 on_sequence_done, wr);
		if (!wr->seq) {
			web_error(wr, 500, "Internal Server Error");
			wr_free(wr);
			return;
		}
		wr->throttle_held = false;
		snprintf(wr->activation_id, sizeof(wr->activation_id), "%s",
			 sequence_activation_id(wr->seq));
	} else {
		wr->inv = invocation_new(w, wr->a, &wr->owner, params, wr->tid);
		if (!wr->inv) {
			web_error(wr, 500, "Internal Server Error");
			wr_free(wr);
			return;
		}
		snprintf(wr->activation_id, sizeof(wr->activation_id), "%s",
			 wr->inv->activation_id);
		wr->inv->done = on_primitive_done;
		wr->inv->done_data = wr;
		if (invocation_start(wr->inv, true)) {
			invocation_free(wr->inv);
			wr->inv = NULL;
			wr->activation_id[0] = '\0';
			http_resp_header(wr->req, "Retry-After", "1");
			web_error(wr, 429, "Too many requests are waiting for this action; try again "
					   "later.");
			wr_free(wr);
			return;
		}
		wr->throttle_held = false;
	}
	wr->timer = loop_timer_add(w->loop, WEB_WAIT_MS, on_web_wait_over, wr);
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
		int err = identity_lookup(wr->w->node, authz, &wr->caller);

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
	if (request_oversize(req)) {
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
