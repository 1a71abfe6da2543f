// SPDX-License-Identifier: Apache-2.0
/* Buffers, URL decoding, base64, ids, time formatting and the loop's timers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "buf.h"
#include "digest.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "prom.h"
#include "util.h"
#include "test.h"

static void test_buf(void)
{
	struct buf b = BUF_INIT;
	char *s;

	CHECK(buf_printf(&b, "%s-%d", "a", 1) == 0);
	for (int i = 0; i < 1000; i++)
		CHECK(buf_puts(&b, "x") == 0);
	CHECK(b.len == 1003);
	buf_consume(&b, 3);
	CHECK(buf_pending(&b) == 1000 && buf_head(&b)[0] == 'x');
	s = buf_steal(&b);
	CHECK(s && strlen(s) == 1000);
	CHECK(b.data == NULL && b.len == 0);
	free(s);
}

/* buf_printf formats into the room there is, and again after growing when it did not
 * fit: the text is whole and NUL-terminated either way. buf_put_uint: decimal, edges. */
static void test_buf_format(void)
{
	struct buf b = BUF_INIT;
	char big[600];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(buf_printf(&b, "%d", 42) == 0 && !strcmp(b.data, "42"));
	/* 256 bytes of room after the first reserve: this one does not fit. */
	CHECK(buf_printf(&b, "[%s]", big) == 0);
	CHECK(b.len == 2 + 601 && b.data[2] == '[' && b.data[b.len - 1] == ']' && !b.data[b.len]);
	buf_consume(&b, b.len);
	CHECK(buf_printf(&b, "%s", "") == 0 && b.len == 0);
	CHECK(buf_put_uint(&b, 0) == 0 && buf_put_uint(&b, 18446744073709551615ull) == 0);
	CHECK(!strcmp(b.data, "018446744073709551615"));
	buf_free(&b);
}

static void test_str_copy_and_u64_dec(void)
{
	char small[4], out[21];

	str_copy(small, sizeof(small), "abcdef");
	CHECK(!strcmp(small, "abc"));
	str_copy(small, sizeof(small), "");
	CHECK(!strcmp(small, ""));
	str_copy(small, sizeof(small), "ab");
	CHECK(!strcmp(small, "ab"));
	CHECK(u64_dec(out, 0) == 1 && !strcmp(out, "0"));
	CHECK(u64_dec(out, 1796339436822ull) == 13 && !strcmp(out, "1796339436822"));
	CHECK(u64_dec(out, UINT64_MAX) == 20 && !strcmp(out, "18446744073709551615"));
}

/* buf_read: reads into the room there is, grows only when little is left (an empty
 * buffer becomes 16 KB, not the 128 KB mmap that reserving 64 KB made), and says when it
 * filled the room. */
static void test_buf_read(void)
{
	static char big[40000];
	struct buf b = BUF_INIT;
	bool filled = true;
	int p[2];

	ASSERT(pipe(p) == 0);
	memset(big, 'y', sizeof(big));
	CHECK(write(p[1], "hello", 5) == 5);
	CHECK(buf_read(&b, p[0], &filled) == 5);
	CHECK(!filled && b.len == 5 && b.cap == BUF_READ_MIN + 1 && !strcmp(b.data, "hello"));
	CHECK(write(p[1], big, sizeof(big)) == (ssize_t)sizeof(big));
	/* Less than BUF_READ_MIN free: it doubles, and the read fills all the room. */
	CHECK(buf_read(&b, p[0], &filled) == (ssize_t)(2 * (BUF_READ_MIN + 1) - 6));
	CHECK(filled && b.len + 1 == b.cap && b.cap == 2 * (BUF_READ_MIN + 1));
	while (buf_read(&b, p[0], &filled) > 0 && filled)
		;
	CHECK(b.len == sizeof(big) + 5 && b.data[b.len] == '\0');
	close(p[1]);
	CHECK(buf_read(&b, p[0], &filled) == 0 && !filled);
	close(p[0]);
	buf_free(&b);
}

/* Strings that need not be UTF-8 (what an action answered): invalid bytes become U+FFFD,
 * valid text and NUL stay as they are. */
static void test_json_string_lossy(void)
{
	json_t *j = json_string_lossy("a\0b\xc3\xa9", 5);

	CHECK(j && json_string_length(j) == 5 && !memcmp(json_string_value(j), "a\0b\xc3\xa9", 5));
	json_decref(j);
	/* a lone continuation byte, an overlong '/', a surrogate, a cut sequence */
	j = json_string_lossy("x\x80\xc0\xaf\xed\xa0\x80\xe2\x82", 10);
	/* 1 + 2 + 3 + 2 replacements: a surrogate's bytes each start no valid sequence */
	CHECK(j && !strcmp(json_string_value(j), "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
						 "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
						 "\xef\xbf\xbd\xef\xbf\xbd"));
	json_decref(j);
}

static void test_url(void)
{
	char *v;

	v = url_decode("a%20b+c", 7, true);
	CHECK_STR(v, "a b c");
	free(v);
	v = url_decode("a%2", 3, false);
	CHECK(v == NULL);
	v = url_decode("%zz", 3, false);
	CHECK(v == NULL);
	v = query_get("blocking=true&result=false&name=x%2Fy", "name");
	CHECK_STR(v, "x/y");
	free(v);
	v = query_get("blocking&x=1", "blocking");
	CHECK_STR(v, "");
	free(v);
	CHECK(query_get("xblocking=1", "blocking") == NULL);
	CHECK(query_get(NULL, "a") == NULL);
}

/* zalloc zeroes what malloc hands back: here the chunk just freed, full of 0xff. */
static void test_zalloc(void)
{
	unsigned char *p = malloc(200), *q;
	bool zero = true;

	CHECK(p != NULL);
	memset(p, 0xff, 200);
	free(p);
	q = zalloc(200);
	CHECK(q != NULL);
	for (int i = 0; q && i < 200; i++)
		zero = zero && !q[i];
	CHECK(zero);
	free(q);
}

/* The per-request query reader: the same finding and decoding, into a bounded buffer. */
static void test_query_copy(void)
{
	char v[8];

	CHECK(query_copy("blocking=tru%65&result=a+b", "blocking", v, sizeof(v)) == 0);
	CHECK_STR(v, "true");
	CHECK(query_copy("blocking=true&result=a+b", "result", v, sizeof(v)) == 0);
	CHECK_STR(v, "a b");
	CHECK(query_copy("blocking&x=1", "blocking", v, sizeof(v)) == 0);
	CHECK_STR(v, "");
	CHECK(query_copy("timeout=12345678", "timeout", v, sizeof(v)) == -E2BIG);
	CHECK(query_copy("timeout=1234567", "timeout", v, sizeof(v)) == 0);
	CHECK_STR(v, "1234567");
	/* The raw length decides: this one would decode to 3 bytes. */
	CHECK(query_copy("x=%61%62%63", "x", v, sizeof(v)) == -E2BIG);
	CHECK(query_copy("timeout=1%zz", "timeout", v, sizeof(v)) == -EINVAL);
	CHECK(query_copy("xblocking=1", "blocking", v, sizeof(v)) == -ENOENT);
	CHECK(query_copy(NULL, "a", v, sizeof(v)) == -ENOENT);
}

static void test_base64(void)
{
	const char *in = "hello, world!";
	size_t len;
	char *enc = base64_encode(in, strlen(in));
	char *dec = base64_decode(enc, strlen(enc), &len);

	CHECK_STR(enc, "aGVsbG8sIHdvcmxkIQ==");
	CHECK(dec && len == strlen(in) && !memcmp(dec, in, len));
	free(enc);
	free(dec);
	CHECK(base64_decode("@@@@", 4, &len) == NULL);
	CHECK(base64_decode("YQ==YQ==", 8, &len) == NULL);
	CHECK(base64_looks_binary("UEsDBA==", 8));
	CHECK(!base64_looks_binary("function main(){}", 17));
	CHECK(!base64_looks_binary("abc", 3));
	CHECK(!base64_looks_binary("", 0));
}

static void test_ids_and_time(void)
{
	char hex[33], alnum[33], stamp[40];

	random_hex(hex, 32);
	random_alnum(alnum, 32);
	CHECK(strlen(hex) == 32 && strspn(hex, "0123456789abcdef") == 32);
	CHECK(strlen(alnum) == 32);
	format_rfc3339_nano(stamp, sizeof(stamp), 1704067200123456789ull);
	CHECK_STR(stamp, "2024-01-01T00:00:00.123456789Z");
}

/* CPU time grows with work done, not with time slept. */
static void test_clock_cpu(void)
{
	volatile uint64_t sink = 0;
	uint64_t before = clock_cpu_us(), busy, slept;

	for (uint64_t i = 0; clock_cpu_us() - before < 20000; i++)
		sink += i;
	busy = clock_cpu_us() - before;
	before = clock_cpu_us();
	usleep(50000);
	slept = clock_cpu_us() - before;
	CHECK(busy >= 20000);
	CHECK(slept < 20000);
	(void)sink;
}

static int order[4], norder;

static void timer_cb(struct loop *loop, void *data)
{
	order[norder++] = (int)(long)data;
	if (norder == 3)
		loop_stop(loop);
}

/* FIPS 180-2's "abc" vector, whole and in two parts. */
static void test_sha256(void)
{
	static const unsigned char abc[32] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
	};
	unsigned char out[32];

	CHECK(sha256_digest("abc", 3, out) == 0 && !memcmp(out, abc, 32));
	memset(out, 0, sizeof(out));
	CHECK(sha256_digest2("a", 1, "bc", 2, out) == 0 && !memcmp(out, abc, 32));
}

static void test_timers(void)
{
	struct loop *loop = loop_new();
	struct loop_timer *cancelled;

	ASSERT(loop);
	norder = 0;
	loop_timer_add(loop, 30, timer_cb, (void *)3);
	loop_timer_add(loop, 10, timer_cb, (void *)1);
	cancelled = loop_timer_add(loop, 15, timer_cb, (void *)99);
	loop_timer_add(loop, 20, timer_cb, (void *)2);
	loop_timer_cancel(loop, cancelled);
	loop_run(loop);
	CHECK(norder == 3 && order[0] == 1 && order[1] == 2 && order[2] == 3);
	loop_free(loop);
}

static struct loop_deferred deferred[3];

static void deferred_cb(struct loop *loop, void *data)
{
	order[norder++] = (int)(long)data;
	/* One deferred from a deferred callback runs in the same pass. */
	if ((long)data == 1)
		loop_defer(loop, &deferred[2], deferred_cb, (void *)3);
}

static void before_sleep_stop(struct loop *loop, void *data)
{
	/* The first before-sleep comes before any turn; stop at the second. */
	if ((*(int *)data)++)
		loop_stop(loop);
}

/* Deferred callbacks run at the end of the turn, in order, once each, before the next
 * before-sleep hook; a cancelled one does not run. */
static void test_deferred(void)
{
	struct loop *loop = loop_new();
	struct loop_deferred cancelled = { 0 };
	int sleeps = 0;

	ASSERT(loop);
	norder = 0;
	memset(deferred, 0, sizeof(deferred));
	loop_defer(loop, &deferred[0], deferred_cb, (void *)1);
	loop_defer(loop, &cancelled, deferred_cb, (void *)99);
	loop_defer(loop, &deferred[0], deferred_cb, (void *)98); /* queued already: no-op */
	loop_defer(loop, &deferred[1], deferred_cb, (void *)2);
	loop_defer_cancel(loop, &cancelled);
	loop_set_before_sleep(loop, before_sleep_stop, &sleeps);
	loop_run(loop);
	CHECK(norder == 3 && order[0] == 1 && order[1] == 2 && order[2] == 3);
	CHECK(!deferred[0].queued && !deferred[2].queued && !cancelled.queued);
	loop_free(loop);
}

static void test_prom(void)
{
	static const char *const bounds[] = { "0.1", "1", "+Inf" };
	const uint64_t counts[] = { 2, 0, 3 };
	struct buf b = BUF_INIT;

	prom_value(&b, "x_total", "counter", "Things.", 7);
	prom_histogram(&b, "x_seconds", "Time.", bounds, counts, 3, 1.5);
	CHECK_STR(b.data, "# HELP x_total Things.\n# TYPE x_total counter\nx_total 7\n"
			  "# HELP x_seconds Time.\n# TYPE x_seconds histogram\n"
			  "x_seconds_bucket{le=\"0.1\"} 2\nx_seconds_bucket{le=\"1\"} 2\n"
			  "x_seconds_bucket{le=\"+Inf\"} 5\nx_seconds_sum 1.500000\n"
			  "x_seconds_count 5\n");
	buf_free(&b);
}

/* --log-level: names in any case; an unknown one is refused and changes nothing. */
static void test_log_level_names(void)
{
	CHECK(log_set_level_name("DEBUG") == 0);
	CHECK(log_set_level_name("warn") == 0);
	CHECK(log_set_level_name("loud") == -EINVAL);
	CHECK(log_set_level_name("") == -EINVAL);
	CHECK(log_parse_level("error") >= 0);
	CHECK(log_set_level_name("info") == 0);
}

/* Activation ids: 32 lowercase hex digits, the first 12 the time in milliseconds, so that
 * a later id sorts after an earlier one; the rest random (no two alike here). */
static void test_activation_ids(void)
{
	char a[33], b[33], prefix[13];
	uint64_t before = clock_real_us() / 1000, at;

	activation_id_new(a);
	CHECK(activation_id_valid(a));
	memcpy(prefix, a, 12);
	prefix[12] = '\0';
	at = strtoull(prefix, NULL, 16);
	CHECK(at >= before && at <= clock_real_us() / 1000);
	usleep(2000);
	activation_id_new(b);
	CHECK(strcmp(a, b) < 0);
	for (int i = 0; i < 1000; i++) {
		activation_id_new(b);
		CHECK(strcmp(a + 12, b + 12) != 0);
	}
}

int main(void)
{
	RUN(test_buf);
	RUN(test_activation_ids);
	RUN(test_buf_format);
	RUN(test_str_copy_and_u64_dec);
	RUN(test_buf_read);
	RUN(test_json_string_lossy);
	RUN(test_url);
	RUN(test_query_copy);
	RUN(test_zalloc);
	RUN(test_base64);
	RUN(test_ids_and_time);
	RUN(test_clock_cpu);
	RUN(test_timers);
	RUN(test_deferred);
	RUN(test_sha256);
	RUN(test_prom);
	RUN(test_log_level_names);
	TEST_EXIT();
}
