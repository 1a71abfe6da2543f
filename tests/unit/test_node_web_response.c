// SPDX-License-Identifier: Apache-2.0
/* A web action's result as an HTTP response, by extension (OpenWhisk's WebActions rules). */
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "node/ingress/web_response.h"
#include "test.h"

/* A record whose response has status code and result (JSON text). */
static json_t *record(int code, const char *result)
{
	json_t *r = json_loads(result, JSON_DECODE_ANY, NULL);

	return json_pack("{s:{s:i,s:o}}", "response", "statusCode", code, "result",
			 r ? r : json_null());
}

static void build(int code, const char *result, enum web_ext ext, struct web_response *out)
{
	json_t *rec = record(code, result);

	web_response_build(code, json_object_get(json_object_get(rec, "response"), "result"), ext,
			   out);
	json_decref(rec);
}

static int body_is(const struct web_response *r, const char *want)
{
	return r->len == strlen(want) && (!r->len || !memcmp(r->body, want, r->len));
}

static const char *header(const struct web_response *r, const char *name, size_t nth)
{
	json_t *h;
	size_t i;

	json_array_foreach(r->headers, i, h)
		if (!strcmp(json_string_value(json_array_get(h, 0)), name) && nth-- == 0)
			return json_string_value(json_array_get(h, 1));
	return NULL;
}

static void test_http_status_headers_body(void)
{
	struct web_response r;

	build(0,
	      "{\"statusCode\":201,\"headers\":{\"X-A\":[\"1\",2],\"Content-Type\":\"text/plain\","
	      "\"Content-Length\":\"99\",\"X-B\":true},\"body\":\"hi\"}",
	      EXT_HTTP, &r);
	CHECK(!r.error && r.status == 201);
	CHECK_STR(r.ctype, "text/plain");
	CHECK(body_is(&r, "hi"));
	CHECK_STR(header(&r, "X-A", 0), "1");
	CHECK_STR(header(&r, "X-A", 1), "2");
	CHECK_STR(header(&r, "X-B", 0), "true");
	CHECK(!header(&r, "Content-Length", 0)); /* framing is the node's */
	web_response_clear(&r);
}

static void test_http_defaults(void)
{
	struct web_response r;

	build(0, "{}", EXT_HTTP, &r); /* no body, no status: 204 */
	CHECK(!r.error && r.status == 204 && !r.ctype && r.len == 0);
	web_response_clear(&r);
	build(0, "{\"statusCode\":\"404\"}", EXT_HTTP, &r); /* a string status */
	CHECK(!r.error && r.status == 404);
	web_response_clear(&r);
	build(0, "{\"body\":\"<p>x</p>\"}", EXT_HTTP, &r); /* a string body is HTML */
	CHECK(r.status == 200 && !strcmp(r.ctype, "text/html") && body_is(&r, "<p>x</p>"));
	web_response_clear(&r);
	build(0, "{\"body\":{\"a\":1}}", EXT_HTTP, &r); /* an object body is JSON */
	CHECK(!strcmp(r.ctype, "application/json") && body_is(&r, "{\"a\":1}"));
	web_response_clear(&r);
}

static void test_http_binary_body(void)
{
	struct web_response r;

	/* "aGVsbG8=" is "hello" */
	build(0, "{\"headers\":{\"content-type\":\"image/png\"},\"body\":\"aGVsbG8=\"}", EXT_HTTP,
	      &r);
	CHECK(!r.error && body_is(&r, "hello"));
	web_response_clear(&r);
	build(0, "{\"headers\":{\"content-type\":\"image/png\"},\"body\":\"not base64!\"}", EXT_HTTP,
	      &r);
	CHECK_STR(r.error, "Response is not valid 'message/http'.");
	web_response_clear(&r);
}

static void test_http_invalid(void)
{
	static const char *const bad[] = {
		"{\"statusCode\":99}",
		"{\"statusCode\":600}",
		"{\"statusCode\":\"\"}",
		"{\"headers\":[1]}",
		"{\"headers\":{\"X\":{\"nested\":1}}}",
		"{\"headers\":{\"X\":[\"ok\",{}]}}",
	};
	struct web_response r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		build(0, bad[i], EXT_HTTP, &r);
		CHECK_STR(r.error, "Response is not valid 'message/http'.");
		CHECK(json_array_size(r.headers) == 0); /* nothing half-applied */
		web_response_clear(&r);
	}
}

static void test_extensions(void)
{
	struct web_response r;

	build(0, "{\"a\":[1]}", EXT_JSON, &r);
	CHECK(r.status == 200 && !strcmp(r.ctype, "application/json") && body_is(&r, "{\"a\":[1]}"));
	web_response_clear(&r);
	build(0, "{\"html\":\"<b>x</b>\"}", EXT_HTML, &r);
	CHECK(!strcmp(r.ctype, "text/html; charset=UTF-8") && body_is(&r, "<b>x</b>"));
	web_response_clear(&r);
	build(0, "{\"body\":\"<svg/>\",\"svg\":\"no\"}", EXT_SVG, &r); /* body first */
	CHECK(!strcmp(r.ctype, "image/svg+xml") && body_is(&r, "<svg/>"));
	web_response_clear(&r);
	build(0, "{\"text\":{\"k\":1}}", EXT_TEXT, &r); /* .text pretty-prints objects */
	CHECK(body_is(&r, "{\n  \"k\": 1\n}"));
	web_response_clear(&r);
	build(0, "{\"html\":1}", EXT_HTML, &r);
	CHECK_STR(r.error, "Response is not valid 'text/html'.");
	web_response_clear(&r);
}

static void test_errors(void)
{
	struct web_response r;

	/* An application error answers with its "error" value. */
	build(ACTIVATION_APPLICATION_ERROR, "{\"error\":{\"statusCode\":418,\"body\":\"tea\"}}",
	      EXT_HTTP, &r);
	CHECK(!r.error && r.status == 418 && body_is(&r, "tea"));
	web_response_clear(&r);
	build(ACTIVATION_DEVELOPER_ERROR, "{\"error\":\"boom\"}", EXT_HTTP, &r);
	CHECK_STR(r.error, "There was an error processing your request.");
	web_response_clear(&r);
	build(ACTIVATION_WHISK_ERROR, "{\"error\":\"x\"}", EXT_JSON, &r);
	CHECK_STR(r.error, "There was an error processing your request.");
	web_response_clear(&r);
}

int main(void)
{
	RUN(test_http_status_headers_body);
	RUN(test_http_defaults);
	RUN(test_http_binary_body);
	RUN(test_http_invalid);
	RUN(test_extensions);
	RUN(test_errors);
	TEST_EXIT();
}
