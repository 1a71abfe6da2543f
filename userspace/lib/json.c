// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_write.h"

json_t *json_parse(const char *s, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);

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
