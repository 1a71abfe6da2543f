// SPDX-License-Identifier: Apache-2.0
/* The JSON writer: what it writes is what jansson's compact dump of the same value is, for
 * every string (escapes, controls, NUL, invalid UTF-8 as U+FFFD), nesting and commas. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_write.h"
#include "test.h"

static bool text_is(const struct buf *b, const char *want)
{
	if (b->len != strlen(want) || memcmp(b->data, want, b->len)) {
		fprintf(stderr, "  got  %.*s\n  want %s\n", (int)b->len, b->data ?: "", want);
		return false;
	}
	return true;
}

/* s (len bytes) written as a string is jansson's dump of json_string_lossy(s). */
static bool string_as_jansson(const char *s, size_t len)
{
	json_t *j = json_string_lossy(s, len);
	char *want = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	struct buf b = BUF_INIT;
	struct json_writer jw;
	bool same;

	jw_init(&jw, &b);
	jw_strn(&jw, s, len);
	same = want && !jw.err && text_is(&b, want);
	buf_free(&b);
	free(want);
	json_decref(j);
	return same;
}

static void test_strings(void)
{
	char all[256];

	CHECK(string_as_jansson("", 0));
	CHECK(string_as_jansson("plain ascii / slash", 19));
	CHECK(string_as_jansson("\"quoted\" \\back\\", 16));
	CHECK(string_as_jansson("\b\f\n\r\t", 5));
	CHECK(string_as_jansson("nul \0 inside", 12));
	CHECK(string_as_jansson("\x01\x1f\x7f", 3));
	CHECK(string_as_jansson("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
	/* Invalid UTF-8: a lone continuation, a cut sequence, overlong, a surrogate, past
	 * U+10FFFF, 0xff. */
	CHECK(string_as_jansson("\x80", 1));
	CHECK(string_as_jansson("cut \xe2\x82", 6));
	CHECK(string_as_jansson("\xc0\xaf", 2));
	CHECK(string_as_jansson("\xed\xa0\x80", 3));
	CHECK(string_as_jansson("\xf4\x90\x80\x80", 4));
	CHECK(string_as_jansson("a\xff" "b", 3));
	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	CHECK(string_as_jansson(all, sizeof(all)));
}

static void test_nesting(void)
{
	struct buf b = BUF_INIT;
	struct json_writer jw;
	json_t *tree = json_loads("{\"k\":[1,{\"x\":null}],\"r\":2.5}", 0, NULL);

	ASSERT(tree);
	jw_init(&jw, &b);
	jw_obj_open(&jw);
	jw_key(&jw, "a");
	jw_arr_open(&jw);
	jw_int(&jw, -1);
	jw_bool(&jw, true);
	jw_obj_open(&jw);
	jw_obj_close(&jw);
	jw_arr_open(&jw);
	jw_arr_close(&jw);
	jw_str(&jw, "s");
	jw_arr_close(&jw);
	jw_key(&jw, "raw");
	jw_raw(&jw, "{\"z\":[]}", 8);
	jw_key(&jw, "tree");
	jw_value(&jw, tree);
	jw_key(&jw, "members");
	jw_arr_open(&jw);
	jw_raw_members(&jw, "", 0);
	jw_raw_members(&jw, "1,2", 3);
	jw_int(&jw, 3);
	jw_arr_close(&jw);
	jw_key(&jw, "big");
	jw_int(&jw, 9007199254740993LL);
	jw_key(&jw, "ints");
	jw_arr_open(&jw);
	jw_int(&jw, 0);
	jw_int(&jw, LLONG_MIN);
	jw_int(&jw, LLONG_MAX);
	jw_arr_close(&jw);
	jw_obj_close(&jw);
	CHECK(!jw.err);
	CHECK(text_is(&b, "{\"a\":[-1,true,{},[],\"s\"],\"raw\":{\"z\":[]},"
			  "\"tree\":{\"k\":[1,{\"x\":null}],\"r\":2.5},\"members\":[1,2,3],"
			  "\"big\":9007199254740993,\"ints\":[0,-9223372036854775808,"
			  "9223372036854775807]}"));
	buf_free(&b);
	json_decref(tree);
}

/* A tree written by jw_value is jansson's compact dump of it, byte for byte: every type,
 * reals in each of jansson's forms, keys with escapes and NUL, deep nesting; inside an
 * array, after other values. */
static bool tree_as_jansson(json_t *tree)
{
	char *want = tree ? json_dumps(tree, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	struct buf b = BUF_INIT;
	struct json_writer jw;
	bool same;

	jw_init(&jw, &b);
	jw_arr_open(&jw);
	jw_int(&jw, 1);
	jw_value(&jw, tree);
	jw_value(&jw, tree);
	jw_arr_close(&jw);
	if (want) { /* [1,<tree>,<tree>] */
		size_t n = strlen(want);
		char *three = malloc(2 * n + 6);

		if (three)
			snprintf(three, 2 * n + 6, "[1,%s,%s]", want, want);
		free(want);
		want = three;
	}
	same = want && !jw.err && text_is(&b, want);
	buf_free(&b);
	free(want);
	json_decref(tree);
	return same;
}

static void test_trees(void)
{
	static const double reals[] = { 0.0,   -0.0,    1.0,     -2.5,   0.1,     1e300,
					1e-5,  1.5e-300, 123456789012345678.0, 3.141592653589793,
					1e21,  -1e-7,   2.2250738585072014e-308 };
	json_t *deep = json_array();
	json_t *obj = json_object();
	int depth_left = 500;

	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
		CHECK(tree_as_jansson(json_real(reals[i])));
	CHECK(tree_as_jansson(json_integer(LLONG_MIN)));
	CHECK(tree_as_jansson(json_null()));
	CHECK(tree_as_jansson(json_true()));
	CHECK(tree_as_jansson(json_false()));
	CHECK(tree_as_jansson(json_string("a\"b\\c\n\u00e9")));
	CHECK(tree_as_jansson(json_object()));
	CHECK(tree_as_jansson(json_array()));
	CHECK(tree_as_jansson(json_loads("{\"k\":[1,{\"x\":null,\"y\":[[],{}]}],\"r\":2.5,"
					 "\"s\":\"\\u0000\\u001f\",\"t\":true,\"f\":false,"
					 "\"\\\"key\\n\":-7,\"n\":1e300}",
					 JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)));
	json_object_setn_new(obj, "nul\0key", 7, json_integer(1));
	json_object_set_new(obj, "second", json_real(0.5));
	CHECK(tree_as_jansson(obj));
	/* 500 levels: [[[...]]] */
	for (json_t *a = deep, *inner; a && depth_left-- > 0; a = inner) {
		inner = json_array();
		if (json_array_append_new(a, inner))
			inner = NULL;
	}
	CHECK(tree_as_jansson(deep));
}

/* A writer appends after what its buffer holds: no comma before its first token. */
static void test_appends(void)
{
	struct buf b = BUF_INIT;
	struct json_writer jw;

	CHECK(buf_puts(&b, "{\"x\":1}\n") == 0);
	jw_init(&jw, &b);
	jw_obj_open(&jw);
	jw_key(&jw, "y");
	jw_int(&jw, 2);
	jw_obj_close(&jw);
	CHECK(text_is(&b, "{\"x\":1}\n{\"y\":2}"));
	buf_free(&b);
	/* Keys are escaped as strings are. */
	jw_init(&jw, &b);
	jw_obj_open(&jw);
	jw_key(&jw, "a\"b\n");
	jw_str(&jw, "v");
	jw_obj_close(&jw);
	CHECK(text_is(&b, "{\"a\\\"b\\n\":\"v\"}"));
	buf_free(&b);
}

/* json_parse, which the writer's output is read back with: a raw NUL byte is refused
 * wherever it is (jansson alone passes over one between tokens), \u0000 is kept. */
static void test_parse_refuses_raw_nul(void)
{
	static const char between[] = "{\"a\":[1\0,2]}", in_string[] = "[\"a\0b\"]";
	char err[64] = "";
	json_t *j;

	CHECK(json_parse(between, sizeof(between) - 1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "NUL") != NULL);
	CHECK(json_parse(in_string, sizeof(in_string) - 1, NULL, 0) == NULL);
	j = json_parse("[\"a\\u0000b\"]", 12, NULL, 0);
	CHECK(j && json_string_length(json_array_get(j, 0)) == 3);
	json_decref(j);
}

int main(void)
{
	RUN(test_strings);
	RUN(test_trees);
	RUN(test_nesting);
	RUN(test_appends);
	RUN(test_parse_refuses_raw_nul);
	TEST_EXIT();
}
