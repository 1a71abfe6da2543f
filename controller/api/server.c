// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth_messages.h"
#include "api.h"
#include "internal.h"
#include "auth.h"
#include "controller.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "offload.h"
#include "util.h"

#define CORS_HEADERS "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent"
#define CORS_METHODS "GET, DELETE, POST, PUT, HEAD"

static void api_headers(struct api_req *r)
{
	http_resp_header(r->http, "X-Request-ID", "%s", r->tid);
	http_resp_header(r->http, "Access-Control-Allow-Origin", "*");
	http_resp_header(r->http, "Access-Control-Allow-Headers", CORS_HEADERS);
	http_resp_header(r->http, "Access-Control-Allow-Methods", CORS_METHODS);
}

static void count_request(struct api_req *r, int status)
{
	static const uint64_t bounds_us[] = { 500,    1000,   2000,   5000,   10000,
					      25000,  50000,  100000, 250000, 500000,
					      1000000 };
	struct controller_stats *st = &r->ctl->stats;
	uint64_t us = clock_mono_us() - r->http->start_us;
	size_t i = 0;

	st->requests[status / 100 < 6 ? status / 100 : 5]++;
	while (i < sizeof(bounds_us) / sizeof(bounds_us[0]) && us > bounds_us[i])
		i++;
	st->latency_hist[i]++;
	st->latency_sum_us += us;
}

void api_reply_raw(struct api_req *r, int status, const char *content_type, const char *body,
		   size_t len)
{
	count_request(r, status);
	api_headers(r);
	http_resp_send(r->http, status, content_type, body, len);
	r->http = NULL;
}

/* A reply whose body is dumped off the loop: the request is answered when it is done. */
struct dumped_reply {
	struct api_req r;
	struct http_request *http;
	int status;
	json_t *body;
	char *text;
};

static void send_json(struct api_req *r, int status, json_t *body, char *text)
{
	if (body && !text) {
		json_decref(body);
		api_error(r, 500, "Internal Server Error");
		return;
	}
	api_reply_raw(r, status, "application/json", text ? text : "", text ? strlen(text) : 0);
	free(text);
	json_decref(body);
}

static void dump_work(void *arg)
{
	struct dumped_reply *d = arg;

	d->text = json_dump(d->body);
}

static void dump_done(void *arg)
{
	struct dumped_reply *d = arg;

	d->r.http = d->http;
	send_json(&d->r, d->status, d->body, d->text);
	free(d);
}

void api_reply(struct api_req *r, int status, json_t *body)
{
	struct dumped_reply *d;

	/* A large document (a big action's code): dumped off the loop. Nothing but the
	 * reply's own copy of the request's fields (its tid, its controller) is used when
	 * the dump is done. */
	if (body && status < 300 && (r->large || json_text_at_least(body, API_OFFLOAD_MIN)) &&
	    (d = calloc(1, sizeof(*d)))) {
		d->r.ctl = r->ctl;
		memcpy(d->r.tid, r->tid, sizeof(d->r.tid));
		d->http = r->http;
		d->status = status;
		d->body = body;
		if (!offload_run(r->ctl->offload, dump_work, dump_done, d)) {
			r->http = NULL; /* answered (later) */
			return;
		}
		free(d);
	}
	send_json(r, status, body, body ? json_dump(body) : NULL);
}

void api_error(struct api_req *r, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status == 401)
		http_resp_header(r->http, "WWW-Authenticate", "Basic realm=\"OpenWhisk secure realm\"");
	api_reply(r, status, json_pack("{s:s,s:s}", "error", msg, "code", r->tid));
}

void api_error_not_found(struct api_req *r)
{
	api_error(r, 404, "The requested resource does not exist.");
}

void api_error_forbidden(struct api_req *r)
{
	api_error(r, 403, "The supplied authentication is not authorized to access '%s'.",
		  r->ns ? r->ns : "");
}

void api_error_wrong_collection(struct api_req *r)
{
	api_error(r, 409, "Resource by this name exists but is not in this collection.");
}

void api_error_method(struct api_req *r, const char *allowed)
{
	http_resp_header(r->http, "Allow", "%s", allowed);
	api_error(r, 405, "HTTP method not allowed, supported methods: %s", allowed);
}

/* Seconds a client is asked to wait after a 503 from the store. */
#define STORE_RETRY_AFTER_S 2

void api_error_store(struct api_req *r, int err)
{
	switch (err) {
	case -ENOENT:
		api_error_not_found(r);
		break;
	case -EEXIST:
		api_error(r, 409, "resource already exists");
		break;
	case -ESTALE:
		api_error(r, 409, "Concurrent modification to resource detected.");
		break;
	/* Both pass: a lock held too long, a database server restarting. Clients (and a
	 * node's record shipper) come back after Retry-After. */
	case -EBUSY:
		http_resp_header(r->http, "Retry-After", "%d", STORE_RETRY_AFTER_S);
		api_error(r, 503, "The store is busy; try again.");
		break;
	case -ECONNREFUSED:
		http_resp_header(r->http, "Retry-After", "%d", STORE_RETRY_AFTER_S);
		api_error(r, 503, "The store is unavailable; try again.");
		break;
	/* The entity layer's answers: another namespace's private entity, a name taken by
	 * another collection. */
	case -EACCES:
		api_error_forbidden(r);
		break;
	case -EMEDIUMTYPE:
		api_error_wrong_collection(r);
		break;
	default:
		pr_err("api: store error %s (%s %s, tid %s)", strerror(-err),
		       http_method_str(r->http->method), r->http->path, r->tid);
		api_error(r, 500, "Internal Server Error");
	}
}

/* The media type of a Content-Type value into base (lowercase not required): false when
 * it does not fit. */
static bool content_type_base(const char *ct, char *base, size_t size)
{
	size_t n = strcspn(ct, ";");

	if (n >= size)
		return false;
	memcpy(base, ct, n);
	while (n && isspace((unsigned char)base[n - 1]))
		n--;
	base[n] = '\0';
	return true;
}

static bool content_type_is_json(const char *ct)
{
	char base[128];
	size_t n;

	if (!content_type_base(ct, base, sizeof(base)))
		return false;
	n = strlen(base);
	return !strcasecmp(base, "application/json") ||
	       (n > 5 && !strcasecmp(base + n - 5, "+json"));
}

static bool request_has_lines(struct http_request *req)
{
	const char *ct = http_req_header(req, "Content-Type");
	char base[128];

	return ct && content_type_base(ct, base, sizeof(base)) &&
	       !strcasecmp(base, API_NDJSON);
}

bool api_body_is_lines(struct api_req *r)
{
	return request_has_lines(r->http);
}

json_t *api_body_object(struct api_req *r)
{
	const char *ct = http_req_header(r->http, "Content-Type");
	struct buf *b = &r->http->body;
	char err[256];
	json_t *j;
	size_t i = 0;

	while (i < b->len && isspace((unsigned char)b->data[i]))
		i++;
	if (i == b->len)
		return json_object();
	if (ct && !content_type_is_json(ct)) {
		api_error(r, 415, "The request's Content-Type is not supported. Expected:\n"
				  "application/json");
		return NULL;
	}
	if (r->body_parsed) {
		/* parsed off the loop (once: a second call parses again) */
		j = r->body_json;
		r->body_json = NULL;
		r->body_parsed = false;
		snprintf(err, sizeof(err), "%s", r->body_err);
	} else {
		j = json_parse(b->data, b->len, err, sizeof(err));
	}
	if (!j) {
		api_error(r, 400, "The request content was malformed:\n%s", err);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_error(r, 400, "The request content was malformed:\nObject expected");
		return NULL;
	}
	return j;
}

bool api_query_bool(struct api_req *r, const char *key, bool def)
{
	char *v = query_get(r->http->query, key);
	bool out = def;

	if (v)
		out = str_is_true(v);
	free(v);
	return out;
}

static bool list_number(struct api_req *r, const char *key, const char *collection,
			int64_t def, int64_t max, int64_t *out)
{
	char *v = query_get(r->http->query, key);
	int64_t n;

	*out = def;
	if (!v)
		return true;
	if (parse_i64(v, &n)) {
		api_error(r, 400, "The value '%s' is not an integer for %s.", v, collection);
		free(v);
		return false;
	}
	if (n < 0 || (max && n > max)) {
		if (max)
			api_error(r, 400, "The value '%s' is not in the range of 0 to %lld for %s.", v,
				  (long long)max, collection);
		else
			api_error(r, 400, "The value '%s' is not greater than or equal to 0 for %s.",
				  v, collection);
		free(v);
		return false;
	}
	free(v);
	*out = n;
	return true;
}

bool api_list_params(struct api_req *r, const char *collection, unsigned *skip, unsigned *limit,
		     bool *count)
{
	int64_t l, s;

	if (!list_number(r, "limit", collection, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &l) ||
	    !list_number(r, "skip", collection, 0, 0, &s))
		return false;
	*limit = l == 0 ? LIST_LIMIT_MAX : (unsigned)l;
	*skip = s > 1000000000 ? 1000000000u : (unsigned)s;
	if (count)
		*count = api_query_bool(r, "count", false);
	return true;
}

bool api_own_namespace(struct api_req *r)
{
	return r->authed && !strcmp(r->ns, r->subject.namespace);
}

/* The path after the prefix in decoded segments; false when malformed or too deep. */
static bool split_path(struct api_req *r, const char *p)
{
	r->nseg = url_path_split(p, r->seg, API_MAX_SEGS, &r->trailing_slash);
	if (r->nseg >= 0)
		return true;
	r->nseg = 0;
	return false;
}


/* The caller's credentials: 0 with *who filled, -EACCES with *msg (a 401's text), or the
 * store's error. */
static int credentials_check(struct store *st, const struct http_request *req,
			     struct subject *who, const char **msg)
{
	const char *hdr = http_req_header(req, "Authorization");
	char uuid[AUTH_UUID_LEN + 1], key[AUTH_KEY_LEN + 1];
	int err;

	*msg = AUTH_INVALID;
	if (!hdr) {
		*msg = AUTH_NOT_SUPPLIED;
		return -EACCES;
	}
	if (auth_parse_basic(hdr, uuid, key))
		return -EACCES;
	err = auth_check(st, uuid, key, who);
	return err == -ENOENT ? -EACCES : err;
}

static bool authenticate(struct api_req *r)
{
	const char *msg;
	int err = credentials_check(r->st, r->http, &r->subject, &msg);

	if (err == -EACCES) {
		api_error(r, 401, "%s", msg);
		return false;
	}
	if (err) {
		api_error_store(r, err);
		return false;
	}
	r->authed = true;
	limits_effective(r->subject.limits, &r->limits);
	return true;
}

int api_head_check(struct http_request *req, const char **msg, void *data)
{
	struct controller *ctl = data;
	struct subject who = { 0 };
	int err;

	/* The nodes' calls (record batches) carry the nodes' token, not a user's key. */
	if (!strncmp(req->path, "/internal/", 10)) {
		if (internal_token_ok(ctl, http_req_header(req, "Authorization")))
			return 0;
		*msg = AUTH_INVALID;
		return 401;
	}
	err = credentials_check(ctl->store, req, &who, msg);
	subject_clear(&who);
	/* A store error is answered as usual, after the body. */
	return err == -EACCES ? 401 : 0;
}

static void route_namespaces(struct api_req *r)
{
	const char *coll;

	if (!authenticate(r))
		return;
	if (r->nseg == 1) {
		api_namespaces(r);
		return;
	}
	if (!strcmp(r->seg[1], "_")) {
		r->ns = r->subject.namespace;
	} else {
		if (!namespace_valid(r->seg[1])) {
			api_error(r, 400, "The namespace contains illegal characters.");
			return;
		}
		r->ns = r->seg[1];
	}
	if (r->nseg == 2) {
		api_error(r, 404, "The requested resource could not be found.");
		return;
	}
	coll = r->seg[2];
	if (!strcmp(coll, "actions"))
		api_actions(r);
	else if (!strcmp(coll, "packages"))
		api_packages(r);
	else if (!strcmp(coll, "triggers"))
		api_triggers(r);
	else if (!strcmp(coll, "rules"))
		api_rules(r);
	else if (!strcmp(coll, "activations"))
		api_activations(r);
	else if (!strcmp(coll, "limits"))
		api_limits(r);
	else
		api_error(r, 404, "The requested resource could not be found.");
}

static void route(struct api_req *r)
{
	const char *path = r->http->path;

	if (r->http->error_status) {
		if (r->http->error_status == 413)
			api_error(r, 413, "Request larger than allowed: %llu > %llu bytes.",
				  (unsigned long long)r->http->content_length,
				  (unsigned long long)(EXEC_SIZE_MAX + 4 * PARAMETERS_SIZE_MAX));
		else
			api_error(r, r->http->error_status, "%s", r->http->error_msg);
		return;
	}
	if (!strcmp(path, "/")) {
		api_info_root(r);
		return;
	}
	if (!strcmp(path, "/metrics") && r->http->method == HTTP_GET) {
		api_metrics(r);
		return;
	}
	if (!strcmp(path, "/ping")) {
		api_reply_raw(r, 200, "text/plain; charset=UTF-8", "pong", 4);
		return;
	}
	if (!strncmp(path, "/internal/v1/", 13)) {
		if (!split_path(r, path + 13)) {
			api_error(r, 400, "The request path is malformed.");
			return;
		}
		api_internal(r);
		return;
	}
	if (strncmp(path, "/api/v1", 7) || (path[7] && path[7] != '/')) {
		api_error(r, 404, "The requested resource could not be found.");
		return;
	}
	if (r->http->method == HTTP_OPTIONS) {
		api_reply_raw(r, 200, NULL, "", 0);
		return;
	}
	if (!split_path(r, path + 7)) {
		api_error(r, 400, "The request path is malformed.");
		return;
	}
	if (r->nseg == 0) {
		api_info_v1(r);
		return;
	}
	if (!strcmp(r->seg[0], "api-docs") && r->nseg == 1) {
		api_info_docs(r);
		return;
	}
	if (!strcmp(r->seg[0], "namespaces")) {
		route_namespaces(r);
		return;
	}
	api_error(r, 404, "The requested resource could not be found.");
}

void api_end(struct api_req *r)
{
	if (r->http) {
		pr_err("api: no reply to %s %s (tid %s)", http_method_str(r->http->method),
		       r->http->path, r->tid);
		api_error(r, 500, "Internal Server Error");
	}
	url_path_free(r->seg, r->nseg);
	subject_clear(&r->subject);
	json_decref(r->body_json);
	free(r);
}

static void api_route_and_end(struct api_req *r)
{
	route(r);
	if (!r->deferred)
		api_end(r);
}

static void parse_work(void *arg)
{
	struct api_req *r = arg;
	struct buf *b = &r->http->body;

	r->body_json = json_parse(b->data, b->len, r->body_err, sizeof(r->body_err));
	r->body_parsed = true;
}

static void parse_done(void *arg)
{
	api_route_and_end(arg);
}

void api_handle(struct http_request *req, void *data)
{
	struct controller *ctl = data;
	struct api_req *r = calloc(1, sizeof(*r));

	if (!r) {
		static const char oom[] = "{\"error\":\"Out of memory.\"}";

		http_resp_send(req, 503, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	r->ctl = ctl;
	r->st = ctl->store;
	r->http = req;
	http_request_id(req, r->tid, sizeof(r->tid));
	/* Parsing tens of MB of JSON takes seconds: off the loop, which meanwhile answers
	 * every other call; the request is routed when it is done. */
	r->large = req->body.len >= API_OFFLOAD_MIN && !req->error_status;
	/* JSON lines are parsed one by one by who takes them, not as one document. */
	if (r->large && !request_has_lines(req) &&
	    !offload_run(ctl->offload, parse_work, parse_done, r))
		return;
	api_route_and_end(r);
}
