// SPDX-License-Identifier: Apache-2.0
/* An activation's log lines (lib/actlogs.c): format, segments, the limit and its note,
 * the in-band framing and its reading of untrusted answers. */
#include <string.h>

#include "actlogs.h"
#include "http.h"
#include "json.h"
#include "test.h"

/* 2026-12-03T14:01:23.509022460Z is 1796306483509022460 ns. */
#define TS 1796306483509022460ull

static void test_format_and_segment(void)
{
	struct actlogs_seg s = { 0 };
	json_t *lines;
	const char *raw;
	size_t len;
	int stream;

	actlogs_add(&s, 1000, ACTLOGS_STDOUT, "hello", 5, TS);
	actlogs_add(&s, 1000, ACTLOGS_STDERR, "bad\xff", 4, TS);
	CHECK(!actlogs_sentinel(&s));
	CHECK(actlogs_sentinel(&s));
	lines = actlogs_take(&s);
	CHECK(json_array_size(lines) == 2);
	CHECK(!strcmp(json_string_value(json_array_get(lines, 0)),
		      "2026-12-03T14:01:23.509022460Z stdout: hello"));
	/* Not UTF-8: kept, the byte replaced, as the JVM decodes it. */
	CHECK(!strcmp(json_string_value(json_array_get(lines, 1)),
		      "2026-12-03T14:01:23.509022460Z stderr: bad\xef\xbf\xbd"));
	raw = actlogs_raw(json_array_get(lines, 1), &stream, &len);
	CHECK(stream == ACTLOGS_STDERR && len == 6 && !memcmp(raw, "bad\xef\xbf\xbd", 6));
	CHECK(s.lines == NULL && s.sentinels == 0 && s.bytes == 0);
	json_decref(lines);
	/* Limit 0 keeps nothing; past the limit nothing more is kept. */
	actlogs_add(&s, 0, ACTLOGS_STDOUT, "x", 1, TS);
	CHECK(s.lines == NULL);
	for (int i = 0; i < 5; i++)
		actlogs_add(&s, 60, ACTLOGS_STDOUT, "0123456789", 10, TS);
	CHECK(json_array_size(s.lines) == 2); /* 49 bytes each: the second is past 60 */
	actlogs_seg_free(&s);
}

static void test_cut(void)
{
	json_t *lines = json_array();

	for (int i = 0; i < 3; i++)
		json_array_append_new(lines, json_string("0123456789"));
	actlogs_cut(lines, 25);
	CHECK(json_array_size(lines) == 3);
	CHECK(strstr(json_string_value(json_array_get(lines, 2)),
		     "stderr: Logs were truncated because the total bytes size exceeds the limit "
		     "of 25 bytes.") != NULL);
	json_decref(lines);
}

static void test_in_band(void)
{
	struct http_header h = { .name = ACTLOGS_HEADER, .value = "11" };
	struct http_response resp = { .status = 200, .headers = &h, .nheaders = 1 };
	json_t *lines = json_array(), *back;
	struct buf b = BUF_INIT;
	size_t skip;

	json_array_append_new(lines, json_string("one"));
	json_array_append_new(lines, json_string(""));
	json_array_append_new(lines, json_string("three"));
	CHECK(actlogs_encode(lines, &b) == 0);
	CHECK(b.len == 11 && !memcmp(b.data, "one\n\nthree\n", 11));
	buf_puts(&b, "{\"r\":1}");
	resp.body = b;
	back = actlogs_from_answer(&resp, SIZE_MAX, &skip);
	CHECK(skip == 11 && json_equal(back, lines));
	json_decref(back);
	/* A count past the body: no more than the body, the result empty. */
	h.value = "999";
	back = actlogs_from_answer(&resp, SIZE_MAX, &skip);
	CHECK(skip == b.len && json_array_size(back) == 4);
	json_decref(back);
	/* More than the client allows: none (the body is the result then). */
	h.value = "11";
	CHECK(!actlogs_from_answer(&resp, 10, &skip) && skip == 0);
	/* Not a number, or absent: no logs in band. */
	h.value = "-1";
	CHECK(!actlogs_from_answer(&resp, SIZE_MAX, &skip) && skip == 0);
	h.value = "11x";
	CHECK(!actlogs_from_answer(&resp, SIZE_MAX, &skip));
	resp.nheaders = 0;
	CHECK(!actlogs_from_answer(&resp, SIZE_MAX, &skip));
	CHECK(actlogs_in_band(&resp, SIZE_MAX) == -1);
	/* In band without a line: 0 bytes (the node makes no array of them). */
	resp.nheaders = 1;
	h.value = "0";
	CHECK(actlogs_in_band(&resp, SIZE_MAX) == 0);
	h.value = "999";
	CHECK(actlogs_in_band(&resp, SIZE_MAX) == (long long)b.len);
	h.value = "11";
	CHECK(actlogs_in_band(&resp, 10) == -1 && actlogs_in_band(&resp, 11) == 11);
	CHECK(actlogs_answer_room(10 << 20) > (10u << 20) + (10u << 20) / 31 + 400);
	json_decref(lines);
	buf_free(&b);
}

int main(void)
{
	RUN(test_format_and_segment);
	RUN(test_cut);
	RUN(test_in_band);
	TEST_EXIT();
}
