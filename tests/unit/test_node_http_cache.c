// SPDX-License-Identifier: Apache-2.0
/*
 * RFC 9111's rules for the node's shared cache of web action responses: which responses
 * are kept and how long, what a request's Cache-Control asks, when 304 answers a
 * conditional request.
 */
#include <stdlib.h>
#include <string.h>

#include "node/ingress/http_cache.h"
#include "test.h"

/* 2024-01-01T00:00:00Z */
#define NOW 1704067200ull

static struct http_cache_policy policy_of(int status, const char *headers_json, bool authorized)
{
	json_t *h = json_loads(headers_json, 0, NULL);
	struct http_cache_policy p;

	http_cache_policy(status, h, authorized, NOW, &p);
	json_decref(h);
	return p;
}

static void test_max_age_and_s_maxage(void)
{
	struct http_cache_policy p;

	p = policy_of(200, "[[\"Cache-Control\",\"max-age=60\"]]", false);
	CHECK(p.storable && p.ttl_s == 60 && !p.vary[0]);
	p = policy_of(200, "[[\"cache-control\",\"public, max-age=60, s-maxage=5\"]]", false);
	CHECK(p.storable && p.ttl_s == 5); /* s-maxage is the shared cache's */
	p = policy_of(200, "[[\"Cache-Control\",\"max-age=\\\"30\\\"\"]]", false);
	CHECK(p.storable && p.ttl_s == 30);
	p = policy_of(200, "[[\"Cache-Control\",\"max-age=abc\"]]", false);
	CHECK(!p.storable); /* invalid: stale */
	p = policy_of(200, "[[\"Cache-Control\",\"max-age=0\"]]", false);
	CHECK(!p.storable);
	p = policy_of(200, "[[\"Cache-Control\",\"max-age=99999999\"]]", false);
	CHECK(p.storable && p.ttl_s == HTTP_CACHE_TTL_MAX_S);
	p = policy_of(200, "[]", false);
	CHECK(!p.storable); /* no explicit freshness: no guess */
	p = policy_of(200, "[[\"Cache-Control\",\"public\"],[\"Cache-Control\",\"max-age=9\"]]",
		      false);
	CHECK(p.storable && p.ttl_s == 9); /* several fields add up */
}

static void test_refusals(void)
{
	CHECK(!policy_of(200, "[[\"Cache-Control\",\"no-store, max-age=60\"]]", false).storable);
	CHECK(!policy_of(200, "[[\"Cache-Control\",\"private, max-age=60\"]]", false).storable);
	CHECK(!policy_of(200, "[[\"Cache-Control\",\"max-age=60, private=\\\"x, y\\\"\"]]", false)
		       .storable);
	CHECK(!policy_of(200, "[[\"Cache-Control\",\"no-cache, max-age=60\"]]", false).storable);
	CHECK(!policy_of(200, "[[\"Cache-Control\",\"max-age=60\"],[\"Set-Cookie\",\"a=b\"]]",
			 false)
		       .storable);
	CHECK(!policy_of(200, "[[\"Cache-Control\",\"max-age=60\"],[\"Vary\",\"*\"]]", false)
		       .storable);
}

static void test_statuses(void)
{
	static const int kept[] = { 200, 203, 204, 301, 404 };
	static const int not_kept[] = { 201, 206, 302, 400, 403, 500, 502 };

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		CHECK(policy_of(kept[i], "[[\"Cache-Control\",\"max-age=1\"]]", false).storable);
	for (size_t i = 0; i < sizeof(not_kept) / sizeof(not_kept[0]); i++)
		CHECK(!policy_of(not_kept[i], "[[\"Cache-Control\",\"max-age=1\"]]", false).storable);
}

static void test_authorized(void)
{
	CHECK(!policy_of(200, "[[\"Cache-Control\",\"max-age=60\"]]", true).storable);
	CHECK(policy_of(200, "[[\"Cache-Control\",\"public, max-age=60\"]]", true).storable);
	CHECK(policy_of(200, "[[\"Cache-Control\",\"s-maxage=60\"]]", true).storable);
	CHECK(policy_of(200, "[[\"Cache-Control\",\"max-age=60, must-revalidate\"]]", true)
		      .storable);
}

static void test_expires(void)
{
	struct http_cache_policy p;

	p = policy_of(200, "[[\"Expires\",\"Mon, 01 Jan 2024 00:01:40 GMT\"]]", false);
	CHECK(p.storable && p.ttl_s == 100);
	/* Against the response's own Date when it has one. */
	p = policy_of(200,
		      "[[\"Date\",\"Mon, 01 Jan 2024 00:01:00 GMT\"],"
		      "[\"Expires\",\"Mon, 01 Jan 2024 00:01:40 GMT\"]]",
		      false);
	CHECK(p.storable && p.ttl_s == 40);
	p = policy_of(200, "[[\"Expires\",\"0\"]]", false);
	CHECK(!p.storable); /* invalid: already expired */
	p = policy_of(200, "[[\"Expires\",\"Sun, 31 Dec 2023 00:00:00 GMT\"]]", false);
	CHECK(!p.storable);
	/* max-age wins over Expires. */
	p = policy_of(200,
		      "[[\"Expires\",\"Mon, 01 Jan 2024 00:01:40 GMT\"],"
		      "[\"Cache-Control\",\"max-age=7\"]]",
		      false);
	CHECK(p.storable && p.ttl_s == 7);
}

static void test_vary(void)
{
	struct http_cache_policy p;

	p = policy_of(200, "[[\"Cache-Control\",\"max-age=60\"],[\"Vary\",\"Accept-Language, X-A\"]]",
		      false);
	CHECK(p.storable);
	CHECK_STR(p.vary, "accept-language,x-a");
	p = policy_of(200,
		      "[[\"Cache-Control\",\"max-age=60\"],[\"Vary\",\"Accept\"],[\"vary\",\"X-B\"]]",
		      false);
	CHECK_STR(p.vary, "accept,x-b");
}

static void test_date(void)
{
	uint64_t t = 0;

	CHECK(!http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", &t) && t == 784111777);
	CHECK(http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t));
	CHECK(http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT trailing", &t));
	CHECK(http_date_parse(NULL, &t));
}

static void test_not_modified(void)
{
	const char *lm = "Sun, 06 Nov 1994 08:49:37 GMT";

	CHECK(http_cache_not_modified("\"v1\"", NULL, "\"v1\"", NULL));
	CHECK(http_cache_not_modified("\"v0\", W/\"v1\"", NULL, "\"v1\"", NULL)); /* weak */
	CHECK(http_cache_not_modified("\"v1\"", NULL, "W/\"v1\"", NULL));
	CHECK(http_cache_not_modified("*", NULL, "\"v1\"", NULL));
	CHECK(!http_cache_not_modified("\"v2\"", NULL, "\"v1\"", NULL));
	CHECK(!http_cache_not_modified("\"v1\"", NULL, NULL, lm));
	/* If-None-Match decides alone when present. */
	CHECK(!http_cache_not_modified("\"v2\"", lm, "\"v1\"", lm));
	CHECK(http_cache_not_modified(NULL, lm, NULL, lm));
	CHECK(http_cache_not_modified(NULL, "Mon, 07 Nov 1994 08:49:37 GMT", NULL, lm));
	CHECK(!http_cache_not_modified(NULL, "Sat, 05 Nov 1994 08:49:37 GMT", NULL, lm));
	CHECK(!http_cache_not_modified(NULL, "garbage", NULL, lm));
	CHECK(!http_cache_not_modified(NULL, NULL, "\"v1\"", lm));
}

static unsigned asked(const char *name, const char *value)
{
	struct http_header h = { .name = (char *)name, .value = (char *)value };
	struct http_request req = { .headers = &h, .nheaders = 1 };

	return http_cache_request(&req);
}

static void test_request_directives(void)
{
	CHECK(asked("Cache-Control", "no-cache") == HTTP_CACHE_NO_CACHE);
	CHECK(asked("cache-control", "max-age=0, No-Cache") == HTTP_CACHE_NO_CACHE);
	CHECK(asked("Cache-Control", "no-store") == (HTTP_CACHE_NO_CACHE | HTTP_CACHE_NO_STORE));
	CHECK(asked("Pragma", "no-cache") == HTTP_CACHE_NO_CACHE);
	CHECK(asked("Cache-Control", "max-age=60") == 0);
	CHECK(asked("X-Other", "no-cache") == 0);
}

int main(void)
{
	RUN(test_max_age_and_s_maxage);
	RUN(test_refusals);
	RUN(test_statuses);
	RUN(test_authorized);
	RUN(test_expires);
	RUN(test_vary);
	RUN(test_date);
	RUN(test_not_modified);
	RUN(test_request_directives);
	TEST_EXIT();
}
