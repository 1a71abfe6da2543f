// SPDX-License-Identifier: Apache-2.0
/*
 * The node's response cache (issue 14): least recently used first, a namespace over its
 * fair share pays with its own entries, freshness, invalidation by the documents an
 * answer was built from, the invalidation epoch; an invoke's key and __ow_cache.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "node/activation/cached_result.h"
#include "node/activation/result_cache.h"
#include "test.h"

#define NS_MAX 8
/* Each test value costs about this much with its bookkeeping. */
#define VALUE_LEN 100

static void key_of(unsigned n, uint8_t key[RESULT_KEY_LEN])
{
	memset(key, 0, RESULT_KEY_LEN);
	/* Spread over the buckets like a digest would. */
	key[0] = (uint8_t)(n * 37);
	memcpy(key + 4, &n, sizeof(n));
}

static int put(struct result_cache *c, unsigned n, uint32_t ns, uint64_t now, uint64_t ttl_ms)
{
	uint8_t key[RESULT_KEY_LEN];
	char value[VALUE_LEN];

	key_of(n, key);
	memset(value, 'a' + (int)(n % 26), sizeof(value));
	return result_cache_put(c, key, ns, NULL, value, sizeof(value), now, ttl_ms,
				result_cache_epoch(c));
}

static bool has(struct result_cache *c, unsigned n, uint64_t now)
{
	uint8_t key[RESULT_KEY_LEN];
	struct result_value *v;

	key_of(n, key);
	v = result_cache_get(c, key, now);
	result_value_unref(v);
	return v != NULL;
}

/* What one test value costs, measured. */
static size_t unit_cost(void)
{
	struct result_cache *c = result_cache_new(1 << 20, NS_MAX);
	struct result_cache_stats s;

	put(c, 1, 0, 0, 1000);
	result_cache_stats(c, &s);
	result_cache_free(c);
	return s.bytes;
}

static void test_get_put_and_value(void)
{
	struct result_cache *c = result_cache_new(1 << 20, NS_MAX);
	uint8_t key[RESULT_KEY_LEN];
	struct result_value *v;
	struct result_cache_stats s;

	ASSERT(c);
	key_of(7, key);
	CHECK(!result_cache_get(c, key, 0));
	CHECK(!result_cache_put(c, key, 1, NULL, "{\"a\":1}", 7, 1000, 5000, result_cache_epoch(c)));
	v = result_cache_get(c, key, 2000);
	ASSERT(v);
	CHECK(v->len == 7 && !strcmp(v->data, "{\"a\":1}"));
	CHECK(v->stored_ms == 1000 && v->expires_ms == 6000);
	/* The value outlives its entry while referenced. */
	CHECK(!result_cache_put(c, key, 1, NULL, "xy", 2, 1000, 5000, result_cache_epoch(c)));
	CHECK(!strcmp(v->data, "{\"a\":1}"));
	result_value_unref(v);
	result_cache_stats(c, &s);
	CHECK(s.entries == 1);
	CHECK(result_cache_put(c, key, NS_MAX, NULL, "x", 1, 0, 1, 0) == -EINVAL);
	CHECK(result_cache_put(c, key, 0, NULL, "x", 1, 0, 0, result_cache_epoch(c)) == -EINVAL);
	result_cache_free(c);
}

static void test_ttl(void)
{
	struct result_cache *c = result_cache_new(1 << 20, NS_MAX);
	struct result_cache_stats s;

	put(c, 1, 0, 1000, 300);
	CHECK(has(c, 1, 1000));
	CHECK(has(c, 1, 1299));
	CHECK(!has(c, 1, 1300)); /* expired: dropped on the way */
	result_cache_stats(c, &s);
	CHECK(s.entries == 0 && s.bytes == 0);
	CHECK(s.evictions == 0); /* expiry is no eviction */
	result_cache_free(c);
}

static void test_lru(void)
{
	size_t unit = unit_cost();
	/* Room for 10 values; each is under an eighth of it. */
	struct result_cache *c = result_cache_new(unit * 10, NS_MAX);
	struct result_cache_stats s;

	for (unsigned n = 0; n < 10; n++)
		CHECK(!put(c, n, 0, 0, 100000));
	CHECK(has(c, 0, 1)); /* 0 is now the most recently used */
	CHECK(!put(c, 10, 0, 0, 100000));
	CHECK(has(c, 0, 2));
	CHECK(!has(c, 1, 2)); /* the least recently used went */
	for (unsigned n = 2; n <= 10; n++)
		CHECK(has(c, n, 3));
	result_cache_stats(c, &s);
	CHECK(s.evictions == 1 && s.entries == 10 && s.bytes <= unit * 10);
	result_cache_free(c);
}

static void test_too_big(void)
{
	struct result_cache *c = result_cache_new(8000, NS_MAX);
	static char big[2000];
	uint8_t key[RESULT_KEY_LEN];

	key_of(1, key);
	CHECK(result_cache_put(c, key, 0, NULL, big, sizeof(big), 0, 10, 0) == -E2BIG);
	result_cache_free(c);
	c = result_cache_new(0, NS_MAX); /* off */
	CHECK(result_cache_put(c, key, 0, NULL, "x", 1, 0, 10, 0) == -E2BIG);
	result_cache_free(c);
}

/* A namespace that keeps storing cannot push out another's entries. */
static void test_fair_share(void)
{
	size_t unit = unit_cost();
	struct result_cache *c = result_cache_new(unit * 20, NS_MAX);
	struct result_cache_stats s;

	/* ns 1 stores 5 answers, well under its half. */
	for (unsigned n = 0; n < 5; n++)
		CHECK(!put(c, 1000 + n, 1, 0, 100000));
	/* ns 2 floods: 200 answers, read again and again so they are the newest. */
	for (unsigned n = 0; n < 200; n++) {
		CHECK(!put(c, 2000 + n, 2, 0, 100000));
		CHECK(has(c, 2000 + n, 1));
	}
	for (unsigned n = 0; n < 5; n++)
		CHECK(has(c, 1000 + n, 2));
	CHECK(result_cache_ns_bytes(c, 1) == 5 * unit);
	CHECK(result_cache_ns_bytes(c, 2) <= 15 * unit);
	result_cache_stats(c, &s);
	CHECK(s.bytes <= 20 * unit);
	result_cache_free(c);
}

/* A newcomer under its share takes room from the namespace over its share, not from
 * the oldest entry of all. */
static void test_fair_share_newcomer(void)
{
	size_t unit = unit_cost();
	struct result_cache *c = result_cache_new(unit * 20, NS_MAX);

	CHECK(!put(c, 1, 3, 0, 100000));       /* ns 3: the oldest entry */
	for (unsigned n = 0; n < 19; n++)      /* ns 4 fills the rest */
		CHECK(!put(c, 100 + n, 4, 0, 100000));
	CHECK(!put(c, 500, 5, 0, 100000));     /* ns 5 comes: ns 4 pays */
	CHECK(has(c, 1, 1));
	CHECK(has(c, 500, 1));
	CHECK(!has(c, 100, 1));                /* ns 4's oldest went */
	result_cache_free(c);
}

static void test_invalidate_by_deps(void)
{
	struct result_cache *c = result_cache_new(1 << 20, NS_MAX);
	json_t *d1 = json_pack("[s,s]", "ns/pkg", "ns/pkg/a"), *d2 = json_pack("[s]", "ns/b");
	uint8_t k1[RESULT_KEY_LEN], k2[RESULT_KEY_LEN];
	struct result_value *v;

	key_of(1, k1);
	key_of(2, k2);
	CHECK(!result_cache_put(c, k1, 0, d1, "1", 1, 0, 10000, result_cache_epoch(c)));
	CHECK(!result_cache_put(c, k2, 0, d2, "2", 1, 0, 10000, result_cache_epoch(c)));
	result_cache_invalidate(c, "ns/pk"); /* no prefix match */
	CHECK(has(c, 1, 1) && has(c, 2, 1));
	result_cache_invalidate(c, "ns/pkg"); /* the package: what was built from it goes */
	CHECK(!has(c, 1, 1));
	CHECK(has(c, 2, 1));
	result_cache_invalidate(c, NULL);
	CHECK(!has(c, 2, 1));
	/* An answer computed across an invalidation is not kept. */
	{
		uint64_t epoch = result_cache_epoch(c);

		result_cache_invalidate(c, "ns/b");
		CHECK(result_cache_put(c, k2, 0, d2, "2", 1, 0, 10000, epoch) == -ESTALE);
		v = result_cache_get(c, k2, 1);
		CHECK(!v);
	}
	json_decref(d1);
	json_decref(d2);
	result_cache_free(c);
}

static void test_counts(void)
{
	struct result_cache *c = result_cache_new(1 << 20, NS_MAX);
	struct result_cache_stats s;

	result_cache_count(c, true);
	result_cache_count(c, false);
	result_cache_count(c, false);
	result_cache_stats(c, &s);
	CHECK(s.hits == 1 && s.misses == 2);
	result_cache_free(c);
}

static struct action_entry *action(int revision)
{
	char text[512];
	json_t *doc;
	struct action_entry *e;

	snprintf(text, sizeof(text),
		 "{\"docid\":\"t/a\",\"path\":\"t\",\"name\":\"a\",\"revision\":%d,"
		 "\"exec\":{\"kind\":\"nodejs:20\"},\"deps\":[\"t/a\"]}",
		 revision);
	doc = json_loads(text, 0, NULL);
	e = action_entry_new("t", "a", doc);
	json_decref(doc);
	return e;
}

static void test_invoke_key(void)
{
	struct action_entry *a1 = action(1), *a2 = action(2);
	json_t *p = json_loads("{\"token\":\"abc\",\"n\":{\"y\":1,\"x\":2}}", 0, NULL);
	json_t *q = json_loads("{\"n\":{\"x\":2,\"y\":1},\"token\":\"abc\"}", 0, NULL);
	json_t *r = json_loads("{\"token\":\"abd\",\"n\":{\"y\":1,\"x\":2}}", 0, NULL);
	uint8_t kp[RESULT_KEY_LEN], kq[RESULT_KEY_LEN], kr[RESULT_KEY_LEN], k2[RESULT_KEY_LEN];

	ASSERT(a1 && a2 && p && q && r);
	CHECK(!cached_result_key(a1, p, kp));
	CHECK(!cached_result_key(a1, q, kq));
	CHECK(!cached_result_key(a1, r, kr));
	CHECK(!cached_result_key(a2, p, k2));
	CHECK(!memcmp(kp, kq, RESULT_KEY_LEN)); /* key order does not matter */
	CHECK(memcmp(kp, kr, RESULT_KEY_LEN));  /* another token is another answer */
	CHECK(memcmp(kp, k2, RESULT_KEY_LEN));  /* another revision too */
	json_decref(p);
	json_decref(q);
	json_decref(r);
	action_entry_unref(a1);
	action_entry_unref(a2);
}

static void test_take_ttl(void)
{
	json_t *r = json_loads("{\"valid\":true,\"__ow_cache\":{\"ttl\":300}}", 0, NULL);

	CHECK(cached_result_take_ttl(r) == 300);
	CHECK(!json_object_get(r, "__ow_cache") && json_is_true(json_object_get(r, "valid")));
	json_decref(r);
	r = json_loads("{\"__ow_cache\":{\"ttl\":\"300\"}}", 0, NULL);
	CHECK(cached_result_take_ttl(r) == 0); /* not a number: stripped, not kept */
	CHECK(!json_object_get(r, "__ow_cache"));
	json_decref(r);
	r = json_loads("{\"__ow_cache\":{\"ttl\":-5}}", 0, NULL);
	CHECK(cached_result_take_ttl(r) == 0);
	json_decref(r);
	r = json_loads("{\"__ow_cache\":{\"ttl\":99999999}}", 0, NULL);
	CHECK(cached_result_take_ttl(r) == CACHED_TTL_MAX_S);
	json_decref(r);
	r = json_loads("{\"a\":1}", 0, NULL);
	CHECK(cached_result_take_ttl(r) == 0 && json_object_size(r) == 1);
	json_decref(r);
	r = json_loads("[1,2]", 0, NULL);
	CHECK(cached_result_take_ttl(r) == 0);
	CHECK(cached_result_take_ttl(NULL) == 0);
	json_decref(r);
}

static void test_hit_record(void)
{
	struct action_entry *a = action(1);
	struct identity who = { .ns_idx = 1, .ns = "t" };
	json_t *result = json_pack("{s:b}", "valid", 1);
	struct record r = { 0 };
	const json_t *rec;

	ASSERT(a);
	ASSERT(cached_result_record(a, &who, "0123456789abcdef0123456789abcdef", 0, result, NULL,
				    0, 1000, 1002, &r) == 0);
	rec = record_tree(&r);
	ASSERT(rec);
	CHECK(json_integer_value(json_object_get(rec, "duration")) == 2);
	CHECK(json_array_size(json_object_get(rec, "logs")) == 0);
	CHECK(json_is_true(json_kv_get(json_object_get(rec, "annotations"), "cached")));
	CHECK(json_is_true(json_object_get(
		json_object_get(json_object_get(rec, "response"), "result"), "valid")));
	CHECK_STR(json_string_value(json_kv_get(json_object_get(rec, "annotations"), "path")),
		  "t/a");
	record_clear(&r);
	json_decref(result);
	action_entry_unref(a);
}

int main(void)
{
	RUN(test_get_put_and_value);
	RUN(test_ttl);
	RUN(test_lru);
	RUN(test_too_big);
	RUN(test_fair_share);
	RUN(test_fair_share_newcomer);
	RUN(test_invalidate_by_deps);
	RUN(test_counts);
	RUN(test_invoke_key);
	RUN(test_take_ttl);
	RUN(test_hit_record);
	TEST_EXIT();
}
