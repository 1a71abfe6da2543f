// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json_write.h"
#include "util.h"

size_t utf8_sequence(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2
				     : s[0] >= 0xe0 && s[0] <= 0xef ? 3
				     : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;

	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

void jw_init(struct json_writer *jw, struct buf *b)
{
	jw->b = b;
	jw->start = b->len;
	jw->err = 0;
}

/* Most tokens fit in the room there is: copied without a call into buf.c (a third of a
 * record's time went to buf_append and buf_reserve). */
static inline void put(struct json_writer *jw, const void *p, size_t n)
{
	struct buf *b = jw->b;

	if (b->len + n < b->cap) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	if (!jw->err && buf_append(b, p, n))
		jw->err = -ENOMEM;
}

/* A comma unless this is the document's first token or the first in its object or array,
 * or the value after a key: what the last byte written tells. */
static void separate(struct json_writer *jw)
{
	char last;

	if (jw->err || jw->b->len <= jw->start)
		return;
	last = jw->b->data[jw->b->len - 1];
	if (last != '{' && last != '[' && last != ':')
		put(jw, ",", 1);
}

void jw_obj_open(struct json_writer *jw)
{
	separate(jw);
	put(jw, "{", 1);
}

void jw_obj_close(struct json_writer *jw)
{
	put(jw, "}", 1);
}

void jw_arr_open(struct json_writer *jw)
{
	separate(jw);
	put(jw, "[", 1);
}

void jw_arr_close(struct json_writer *jw)
{
	put(jw, "]", 1);
}

/* The escapes jansson writes: the short ones, \u00XX (upper case) for other controls. */
static void put_escaped(struct json_writer *jw, unsigned char c)
{
	char seq[8];

	switch (c) {
	case '"':
		put(jw, "\\\"", 2);
		return;
	case '\\':
		put(jw, "\\\\", 2);
		return;
	case '\b':
		put(jw, "\\b", 2);
		return;
	case '\f':
		put(jw, "\\f", 2);
		return;
	case '\n':
		put(jw, "\\n", 2);
		return;
	case '\r':
		put(jw, "\\r", 2);
		return;
	case '\t':
		put(jw, "\\t", 2);
		return;
	}
	snprintf(seq, sizeof(seq), "\\u%04X", c);
	put(jw, seq, 6);
}

static void put_string(struct json_writer *jw, const char *s, size_t len)
{
	const unsigned char *in = (const unsigned char *)s;
	size_t i = 0, run = 0;

	put(jw, "\"", 1);
	while (i < len) {
		unsigned char c = in[i];
		size_t n;

		/* Plain bytes go out in runs, one append each. */
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		put(jw, s + run, i - run);
		if (c < 0x80) {
			put_escaped(jw, c);
			n = 1;
		} else if ((n = utf8_sequence(in + i, len - i))) {
			put(jw, s + i, n);
		} else {
			put(jw, "\xef\xbf\xbd", 3);
			n = 1;
		}
		i += n;
		run = i;
	}
	put(jw, s + run, i - run);
	put(jw, "\"", 1);
}

void jw_key(struct json_writer *jw, const char *key)
{
	separate(jw);
	put_string(jw, key, strlen(key));
	put(jw, ":", 1);
}

void jw_pair_open(struct json_writer *jw, const char *key)
{
	jw_obj_open(jw);
	jw_key(jw, "key");
	jw_str(jw, key);
	jw_key(jw, "value");
}

void jw_str(struct json_writer *jw, const char *s)
{
	jw_strn(jw, s, strlen(s));
}

void jw_strn(struct json_writer *jw, const char *s, size_t len)
{
	separate(jw);
	put_string(jw, s, len);
}

void jw_int(struct json_writer *jw, long long v)
{
	char digits[22];
	/* Through unsigned: the most negative value has no positive counterpart. */
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	digits[0] = '-';
	separate(jw);
	put(jw, v < 0 ? digits : digits + 1, (v < 0) + u64_dec(digits + 1, u));
}

void jw_bool(struct json_writer *jw, bool v)
{
	separate(jw);
	if (v)
		put(jw, "true", 4);
	else
		put(jw, "false", 5);
}

void jw_raw(struct json_writer *jw, const char *json, size_t len)
{
	separate(jw);
	put(jw, json, len);
}

void jw_raw_members(struct json_writer *jw, const char *json, size_t len)
{
	if (len)
		jw_raw(jw, json, len);
}

/* A real as jansson writes it (jsonp_dtostr): %.17g, ".0" when that reads as an integer,
 * and an exponent without its '+' or leading zeros. */
static void put_real(struct json_writer *jw, double d)
{
	char text[40], *e;
	int n = snprintf(text, sizeof(text) - 3, "%.17g", d);

	if (n < 0 || n >= (int)sizeof(text) - 3) {
		jw->err = jw->err ?: -EINVAL;
		return;
	}
	if (!strchr(text, '.') && !strchr(text, 'e')) {
		memcpy(text + n, ".0", 3);
		n += 2;
	}
	if ((e = strchr(text, 'e'))) {
		char *start = e + 1, *end = start + 1;

		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, (size_t)(text + n + 1 - end));
			n -= (int)(end - start);
		}
	}
	put(jw, text, (size_t)n);
}

/* No call into jansson's dump, which allocates for every object (its loop check) and
 * formats every integer with snprintf. */
static void put_tree(struct json_writer *jw, const json_t *v)
{
	json_t *o = (json_t *)v;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		jw_obj_open(jw);
		for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
			separate(jw);
			put_string(jw, json_object_iter_key(it), json_object_iter_key_len(it));
			put(jw, ":", 1);
			put_tree(jw, json_object_iter_value(it));
		}
		jw_obj_close(jw);
		return;
	case JSON_ARRAY:
		jw_arr_open(jw);
		for (size_t i = 0; i < json_array_size(v); i++)
			put_tree(jw, json_array_get(v, i));
		jw_arr_close(jw);
		return;
	case JSON_STRING:
		jw_strn(jw, json_string_value(v), json_string_length(v));
		return;
	case JSON_INTEGER:
		jw_int(jw, json_integer_value(v));
		return;
	case JSON_REAL:
		separate(jw);
		put_real(jw, json_real_value(v));
		return;
	case JSON_TRUE:
	case JSON_FALSE:
		jw_bool(jw, json_is_true(v));
		return;
	case JSON_NULL:
		separate(jw);
		put(jw, "null", 4);
		return;
	}
}

void jw_value(struct json_writer *jw, const json_t *v)
{
	if (!v) {
		jw->err = jw->err ?: -EINVAL;
		return;
	}
	put_tree(jw, v);
}
