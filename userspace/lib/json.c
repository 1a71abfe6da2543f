// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_write.h"

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

bool json_text_at_least(const json_t *j, size_t min)
{
	return at_least(j, &min);
}
