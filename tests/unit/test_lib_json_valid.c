// SPDX-License-Identifier: Apache-2.0
/* json_text_valid says what json_parse says, for every case here: valid and broken
 * values, strings (escapes, surrogates, UTF-8, controls), numbers at jansson's limits,
 * nesting at its depth limit, and a few thousand random mutations of records. And
 * json_text_members finds in a valid text what json_object_get finds in its tree. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_text.h"
#include "test.h"

static bool agrees(const char *s, size_t len)
{
	json_t *j = json_parse(s, len, NULL, 0);
	bool parsed = j != NULL, valid = json_text_valid(s, len);

	json_decref(j);
	if (parsed != valid)
		fprintf(stderr, "  json_parse %s, json_text_valid %s: %.*s\n",
			parsed ? "accepts" : "refuses", valid ? "accepts" : "refuses",
			(int)(len > 200 ? 200 : len), s);
	return parsed == valid;
}

static bool agrees_str(const char *s)
{
	return agrees(s, strlen(s));
}

static const char *const CASES[] = {
	"{}", "[]", "{ }", " [ ] ", "0", "-0", "1", "-1", "12.5", "1e5", "1E+5", "1e-5", "-0.0e0",
	"true", "false", "null", "\"\"", "\"a\"", "{\"a\":1}", "{\"a\":1,\"a\":2}",
	"[1,2,[3,{\"x\":[]}]]", "\t\r\n{\"k\" : [ true , false , null ] }\n",
	/* broken */
	"", " ", "{", "}", "[", "]", "{,}", "[,]", "[1,]", "{\"a\":1,}", "{\"a\"}", "{\"a\":}",
	"{a:1}", "{'a':1}", "[1 2]", "{\"a\":1 \"b\":2}", "tru", "nul", "falsey", "True",
	"01", "-", "-01", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "1 2",
	"[]]", "{}}", "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"",
	/* numbers at the limits */
	"9223372036854775807", "-9223372036854775808", "9223372036854775808",
	"-9223372036854775809", "123456789012345678", "1234567890123456789",
	"99999999999999999999", "1e308", "1e309", "-1e309", "1e-400", "1.7976931348623157e308",
	"1.8e308", "0.00000000000000000000000000000000001",
	/* strings */
	"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0041\"", "\"\\u0000\"", "\"\\ud83d\\ude00\"",
	"\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83dx\"", "\"\\ud83d\\u0041\"", "\"\\uDBFF\\uDFFF\"",
	"\"caf\xc3\xa9\"", "\"\xe2\x82\xac\"", "\"\xf0\x9f\x98\x80\"", "\"\xc3\"", "\"\xc0\xaf\"",
	"\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"",
	"\"\x80\"", "\"\xff\"", "\"a\tb\"", "\"a\nb\"", "\"\x1f\"", "\"\x7f\"",
	/* \u0000: in a value, not in a key (jansson: "NUL byte in object key not supported";
	 * found by fuzz_json_valid) */
	"{\"a\":\"\\u0000\"}", "{\"na\\u00006de\":1}", "{\"\\u0000\":1}", "[{\"a\\u0000\":[]}]",
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
		CHECK(agrees_str(CASES[i]));
	CHECK(!json_text_valid("[1]\0", 4));  /* a raw NUL after the value */
	CHECK(!json_text_valid("\"a\0b\"", 5)); /* and in a string */
	CHECK(json_text_valid("\"\\u0000\"", 8));
}

/* n opening brackets, innermost a scalar or nothing, then n closing ones. */
static bool nested_agrees(size_t n, const char *inner)
{
	size_t k = strlen(inner), len = 2 * n + k;
	char *s = malloc(len);
	bool ok;

	if (!s)
		return false;
	memset(s, '[', n);
	memcpy(s + n, inner, k);
	memset(s + n + k, ']', n);
	ok = agrees(s, len);
	free(s);
	return ok;
}

static void test_depth(void)
{
	for (size_t n = JSON_PARSER_MAX_DEPTH - 2; n <= JSON_PARSER_MAX_DEPTH + 2; n++) {
		CHECK(nested_agrees(n, ""));
		CHECK(nested_agrees(n, "1"));
		CHECK(nested_agrees(n, "{}"));
	}
	CHECK(nested_agrees(100000, "")); /* refused, without a stack that deep */
}

/* Mutations of a record as a node ships it: each agrees, broken or not. */
static void test_mutations(void)
{
	static const char rec[] =
		"{\"namespace\":\"guest\",\"name\":\"hello\",\"version\":\"0.0.1\",\"publish\":false,"
		"\"annotations\":[{\"key\":\"path\",\"value\":\"guest/hello\"},{\"key\":\"kind\","
		"\"value\":\"nodejs:20\"}],\"activationId\":\"0123456789abcdef0123456789abcdef\","
		"\"start\":1764822800000,\"end\":1764822800003,\"duration\":3,\"response\":{"
		"\"statusCode\":0,\"result\":{\"s\":\"caf\xc3\xa9 \\u00e9\\ud83d\\ude00\",\"n\":-1.5e3,"
		"\"a\":[true,null,{}]}},\"logs\":[\"2026-12-04T05:00:00.000000000Z stdout: hi\"]}";
	static const char alphabet[] = "{}[]\",:\\u0e-+.1 tfn\x80\xc3\xa9\xed\xff\x01";
	size_t len = sizeof(rec) - 1;
	char buf[sizeof(rec) + 8];
	unsigned seed = 12345;

	CHECK(json_text_valid(rec, len));
	for (int i = 0; i < 20000; i++) {
		size_t at, n = len;

		memcpy(buf, rec, len);
		seed = seed * 1103515245 + 12345;
		at = (seed >> 8) % len;
		switch ((seed >> 4) % 3) {
		case 0: /* replace a byte */
			buf[at] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
			break;
		case 1: /* drop a byte */
			memmove(buf + at, buf + at + 1, len - at - 1);
			n--;
			break;
		default: /* cut */
			n = at;
		}
		if (!agrees(buf, n)) {
			CHECK(false);
			break;
		}
	}
}

/* The span of each key is the text of the value json_object_get gives (the last of a
 * repeated key), or NULL when it gives none. */
static bool members_agree(const char *text, const char *const *keys, int n)
{
	json_t *tree = json_parse(text, strlen(text), NULL, 0);
	struct json_span found[4];
	bool same = json_text_members(text, text + strlen(text), keys, n, found);

	for (int i = 0; same && i < n; i++) {
		json_t *want = json_object_get(tree, keys[i]);
		json_t *got = found[i].p ? json_parse(found[i].p, found[i].len, NULL, 0) : NULL;

		same = want ? got && json_equal(want, got) : !found[i].p;
		json_decref(got);
	}
	json_decref(tree);
	return same;
}

static void test_members(void)
{
	static const char *const keys[] = { "error", "__ow_cache", "a" };
	static const char *const texts[] = {
		"{}",
		"{\"a\":1}",
		" { \"error\" : \"x\" , \"a\" : [1, {\"error\":2}] } ",
		"{\"a\":1,\"a\":{\"b\":\"}\"}}",
		"{\"s\":\"a\\\"b\",\"__ow_cache\":{\"ttl\":1},\"error\":null}",
		"{\"aa\":1,\"errors\":2,\"\":3}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (!members_agree(texts[i], keys, 3))
			fprintf(stderr, "  members differ: %s\n", texts[i]);
		CHECK(members_agree(texts[i], keys, 3));
	}
	/* a key with an escape may spell one: not read in place */
	CHECK(!members_agree("{\"\\u0065rror\":1}", keys, 1));
	CHECK(!json_text_members("[1]", "[1]" + 3, keys, 1, (struct json_span[1]){ 0 }));
}

int main(void)
{
	RUN(test_cases);
	RUN(test_depth);
	RUN(test_mutations);
	RUN(test_members);
	TEST_EXIT();
}
