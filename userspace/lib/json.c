// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_write.h"
#include "util.h"

json_t *json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j;

	/* jansson passes over a raw NUL byte between tokens; JSON has none (a NUL in a string
	 * is \u0000), and text kept beside its tree (records, summaries) must say the same. */
	if (len && memchr(s, '\0', len)) {
		if (err)
			snprintf(err, errlen, "a NUL byte in the text");
		return NULL;
	}
	j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!j && err)
		snprintf(err, errlen, "%s at line %d column %d", je.text, je.line, je.column);
	return j;
}

json_t *json_string_lossy(const char *s, size_t len)
{
	const unsigned char *in = (const unsigned char *)s;
	json_t *j = json_stringn(s, len);
	size_t o = 0;
	char *out;

	if (j || !s)
		return j;
	/* Invalid UTF-8: at most 3 output bytes per input byte. */
	out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence(in + i, len - i);

		if (n) {
			memcpy(out + o, in + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(out, o);
	free(out);
	return j;
}

static bool line_blank(const char *p, const char *nl)
{
	for (; p < nl; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return false;
	return true;
}

char *json_lines_next(char **p, char *end, size_t *len)
{
	while (*p < end) {
		char *line = *p, *nl = memchr(line, '\n', (size_t)(end - line)) ?: end;

		*p = nl < end ? nl + 1 : end;
		*nl = '\0';
		if (!line_blank(line, nl)) {
			*len = (size_t)(nl - line);
			return line;
		}
	}
	return NULL;
}

size_t json_lines_count(const char *p, const char *end)
{
	size_t n = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)) ?: end;

		n += !line_blank(p, nl);
		p = nl + 1;
	}
	return n;
}

char *json_dump(const json_t *j)
{
	return json_dumps(j, JSON_DUMP_FLAGS);
}

const char *json_obj_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

bool json_obj_bool(const json_t *obj, const char *key, bool def)
{
	json_t *v = json_object_get(obj, key);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

json_t *json_kv_get(const json_t *arr, const char *key)
{
	size_t i;
	json_t *kv;

	json_array_foreach(arr, i, kv) {
		const char *k = json_obj_str(kv, "key");

		if (k && !strcmp(k, key))
			return json_object_get(kv, "value");
	}
	return NULL;
}

int json_kv_set(json_t *arr, const char *key, json_t *value)
{
	size_t i;
	json_t *kv;

	json_array_foreach(arr, i, kv) {
		const char *k = json_obj_str(kv, "key");

		if (k && !strcmp(k, key))
			return json_object_set_new(kv, "value", value);
	}
	return json_array_append_new(arr, json_pack("{s:s,s:o}", "key", key, "value", value));
}

void json_kv_del(json_t *arr, const char *key)
{
	for (size_t i = json_array_size(arr); i-- > 0;) {
		const char *k = json_obj_str(json_array_get(arr, i), "key");

		if (k && !strcmp(k, key))
			json_array_remove(arr, i);
	}
}

bool json_truthy(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return false;
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_real(v))
		return json_real_value(v) != 0.0;
	if (json_is_string(v))
		return json_string_length(v) != 0;
	return true;
}

json_t *json_ref_or_object(json_t *j)
{
	return j ? json_incref(j) : json_object();
}

json_t *json_ref_or_array(json_t *j)
{
	return j ? json_incref(j) : json_array();
}

bool json_obj_copy_str(const json_t *obj, const char *key, char *out, size_t size)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= size)
		return false;
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

static bool at_least(const json_t *j, size_t *left)
{
	const char *key;
	json_t *v;
	size_t i, n;

	switch (json_typeof(j)) {
	case JSON_STRING:
		n = json_string_length(j);
		break;
	case JSON_OBJECT:
		json_object_foreach((json_t *)j, key, v) {
			n = strlen(key);
			if (n >= *left || at_least(v, left))
				return true;
			*left -= n;
		}
		return false;
	case JSON_ARRAY:
		json_array_foreach(j, i, v)
			if (at_least(v, left))
				return true;
		return false;
	default:
		return false;
	}
	if (n >= *left)
		return true;
	*left -= n;
	return false;
}

/*
 * json_text_valid: what json_parse accepts, without building anything (see json.h). The
 * same grammar and the same limits as jansson's decoder with JSON_DECODE_ANY and
 * JSON_ALLOW_NUL: strings of valid UTF-8 without control characters, escapes with
 * surrogates in pairs, integers that fit a json_int_t, reals that do not overflow, no
 * deeper than JSON_PARSER_MAX_DEPTH, no raw NUL byte.
 */
struct scan {
	const unsigned char *p, *end;
	unsigned depth;
};

static void scan_ws(struct scan *sc)
{
	while (sc->p < sc->end &&
	       (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

/* The 4 hex digits of a \u escape at p: its value, or -1. */
static int hex4(const unsigned char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int d = hex_digit(p[i]);

		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/* key: an object's key, where jansson refuses \u0000 even with JSON_ALLOW_NUL. */
static bool scan_string(struct scan *sc, bool key)
{
	const unsigned char *p = sc->p + 1, *end = sc->end;

	while (p < end && *p != '"') {
		if (*p < 0x20) {
			return false;
		} else if (*p == '\\') {
			int u;

			if (++p == end)
				return false;
			if (strchr("\"\\/bfnrt", *p) && *p) {
				p++;
				continue;
			}
			if (*p != 'u' || end - p < 5 || (u = hex4(p + 1)) < 0)
				return false;
			p += 5;
			if (!u && key)
				return false;
			if (u >= 0xdc00 && u <= 0xdfff)
				return false; /* a low surrogate alone */
			if (u >= 0xd800 && u <= 0xdbff) {
				int lo = end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;

				if (lo < 0xdc00 || lo > 0xdfff)
					return false;
				p += 6;
			}
		} else if (*p >= 0x80) {
			size_t n = utf8_sequence(p, (size_t)(end - p));

			if (!n)
				return false;
			p += n;
		} else {
			p++;
		}
	}
	if (p == end)
		return false;
	sc->p = p + 1;
	return true;
}

static bool scan_digits(struct scan *sc)
{
	const unsigned char *start = sc->p;

	while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9')
		sc->p++;
	return sc->p > start;
}

/* As jansson: an integer must fit json_int_t, a real must not overflow to infinity. */
static bool scan_number(struct scan *sc)
{
	const unsigned char *start = sc->p;
	bool real = false;
	char text[64], *copy = text, *stop;
	size_t len;
	bool ok;

	if (*sc->p == '-')
		sc->p++;
	if (sc->p < sc->end && *sc->p == '0')
		sc->p++;
	else if (!scan_digits(sc))
		return false;
	if (sc->p < sc->end && *sc->p == '.') {
		sc->p++;
		real = true;
		if (!scan_digits(sc))
			return false;
	}
	if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
		sc->p++;
		real = true;
		if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-'))
			sc->p++;
		if (!scan_digits(sc))
			return false;
	}
	len = (size_t)(sc->p - start);
	/* Up to 18 digits an integer always fits; a short real cannot overflow. */
	if ((!real && len <= 18) || (real && len <= 20 && !memchr(start, 'e', len) &&
				      !memchr(start, 'E', len)))
		return true;
	if (len >= sizeof(text) && !(copy = malloc(len + 1)))
		return false;
	memcpy(copy, start, len);
	copy[len] = '\0';
	errno = 0;
	if (real) {
		double d = strtod(copy, &stop);

		ok = !(errno == ERANGE && isinf(d));
	} else {
		(void)strtoll(copy, &stop, 10);
		ok = errno != ERANGE;
	}
	if (copy != text)
		free(copy);
	return ok;
}

static bool scan_value(struct scan *sc);

/* An object or an array, its opening bracket at sc->p. */
static bool scan_container(struct scan *sc)
{
	unsigned char close = *sc->p == '{' ? '}' : ']';

	if (++sc->depth > JSON_PARSER_MAX_DEPTH)
		return false;
	sc->p++;
	scan_ws(sc);
	if (sc->p < sc->end && *sc->p == close) {
		sc->p++;
		sc->depth--;
		return true;
	}
	for (;;) {
		if (close == '}') {
			if (sc->p == sc->end || *sc->p != '"' || !scan_string(sc, true))
				return false;
			scan_ws(sc);
			if (sc->p == sc->end || *sc->p != ':')
				return false;
			sc->p++;
			scan_ws(sc);
		}
		if (!scan_value(sc))
			return false;
		scan_ws(sc);
		if (sc->p == sc->end)
			return false;
		if (*sc->p == close) {
			sc->p++;
			sc->depth--;
			return true;
		}
		if (*sc->p != ',')
			return false;
		sc->p++;
		scan_ws(sc);
	}
}

static bool scan_word(struct scan *sc, const char *word, size_t n)
{
	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n))
		return false;
	sc->p += n;
	return true;
}

static bool scan_value(struct scan *sc)
{
	/* jansson counts every value, not only containers, against its depth */
	if (sc->p == sc->end || sc->depth >= JSON_PARSER_MAX_DEPTH)
		return false;
	switch (*sc->p) {
	case '{':
	case '[':
		return scan_container(sc);
	case '"':
		return scan_string(sc, false);
	case 't':
		return scan_word(sc, "true", 4);
	case 'f':
		return scan_word(sc, "false", 5);
	case 'n':
		return scan_word(sc, "null", 4);
	default:
		return (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9')) && scan_number(sc);
	}
}

bool json_text_valid(const char *s, size_t len)
{
	struct scan sc = { (const unsigned char *)s, (const unsigned char *)s + len, 0 };

	if (!s || (len && memchr(s, '\0', len)))
		return false;
	scan_ws(&sc);
	if (!scan_value(&sc))
		return false;
	scan_ws(&sc);
	return sc.p == sc.end;
}

bool json_text_at_least(const json_t *j, size_t min)
{
	return at_least(j, &min);
}
