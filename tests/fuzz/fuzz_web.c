// SPDX-License-Identifier: Apache-2.0
/*
 * Web actions, both ways (userspace/node/ingress/web.c, web_response.c):
 *   - a request to /api/v1/web/... through the HTTP server on a socketpair (as
 *     http_request), decoded into the action's parameters (web_request_params: the path,
 *     the query, a JSON, form, text or binary body, headers), for an action whose
 *     annotations the control byte's top bits choose (raw-http, final parameters);
 *   - the request's body as a web action's result (JSON), turned into the HTTP answer
 *     for each extension (web_response_build).
 * Besides not crashing: the parameters must dump to JSON and read back equal, as the
 * node hands them to the runtime.
 */
#include "fuzz.h"
#include "node_stub.h"
#include "http_harness.h"
#include "node/activation/action_cache.h"
#include "node/ingress/web.h"
#include "node/ingress/web_response.h"

#define WEB_PREFIX "/api/v1/web/"

static struct action_entry *actions[4]; /* by raw-http and final parameters */
static unsigned current; /* the control byte's top bits */
static bool as_user;      /* its bit 5: an authenticated caller */

static struct action_entry *make_action(bool raw, bool final)
{
	char text[512];
	json_t *doc;
	struct action_entry *a;

	snprintf(text, sizeof(text),
		 "{\"docid\":\"alice/pkg/hello\",\"path\":\"alice/pkg\",\"name\":\"hello\","
		 "\"version\":\"0.0.1\",\"exec\":{\"kind\":\"nodejs:20\"},"
		 "\"parameters\":[{\"key\":\"fixed\",\"value\":1},{\"key\":\"name\",\"value\":\"x\"}],"
		 "\"annotations\":[{\"key\":\"web-export\",\"value\":true}%s%s],"
		 "\"limits\":{\"timeout\":5000,\"memory\":128,\"logs\":10}}",
		 raw ? ",{\"key\":\"raw-http\",\"value\":true}" : "",
		 final ? ",{\"key\":\"final\",\"value\":true}" : "");
	doc = json_loads(text, 0, NULL);
	a = doc ? action_entry_new("alice", "/alice/pkg/hello", doc) : NULL;
	json_decref(doc);
	if (!a)
		abort();
	return a;
}

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_web: %s%s%.300s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

/* A request body as a web action's result, answered for every extension. */
static void answer(const char *data, size_t size)
{
	static const enum web_ext exts[] = { EXT_HTTP, EXT_JSON, EXT_HTML, EXT_SVG, EXT_TEXT };
	json_t *result = size ? json_parse(data, size, NULL, 0) : NULL, *rec;

	if (!result)
		return;
	rec = json_pack("{s:s,s:{s:i,s:o}}", "activationId", "00000000000000000000000000000007",
			"response", "statusCode", 0, "result", result);
	for (size_t i = 0; rec && i < sizeof(exts) / sizeof(exts[0]); i++) {
		struct web_response r = { 0 };

		web_response_build(0, result, exts[i], &r);
		if (r.len && !r.body)
			fail("a response body of some length but no bytes", NULL);
		web_response_clear(&r);
	}
	json_decref(rec);
}

static void handler(struct http_request *req, void *data)
{
	const char *rest = req->path;
	json_t *params, *back;
	char *text;

	if (req->error_status) {
		http_resp_send(req, req->error_status, "text/plain", NULL, 0);
		return;
	}
	if (!strncmp(rest, WEB_PREFIX, strlen(WEB_PREFIX)))
		rest += strlen(WEB_PREFIX);
	params = web_request_params(req, rest, actions[current], as_user ? "bob" : NULL);
	if (params) {
		text = json_dump(params);
		back = text ? json_parse(text, strlen(text), NULL, 0) : NULL;
		if (!json_equal(back, params))
			fail("parameters do not read back as they were made", text);
		json_decref(back);
		free(text);
	}
	json_decref(params);
	answer(req->body.data, req->body.len);
	http_resp_send(req, params ? 200 : 400, "application/json", "{}", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_server *srv;
	static const struct http_server_opts opts = {
		.max_body = 16384,
		.max_header_size = 8192,
		.max_pipeline = 4,
	};

	harness_setup();
	if (!srv) {
		for (unsigned i = 0; i < 4; i++)
			actions[i] = make_action(i & 2, i & 1);
		if (!(srv = http_server_new(harness_loop, &opts, handler, NULL)))
			abort();
	}
	current = size ? data[0] >> 6 : 0;
	as_user = size && (data[0] & 0x20);
	harness_serve(srv, NULL, data, size);
	return 0;
}
