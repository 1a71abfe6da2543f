// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entity.h"
#include "json.h"
#include "entity_limits.h"
#include "names.h"
#include "util.h"

#define MALFORMED "The request content was malformed:\n"
#define VERSION_PART_MAX 1000000000L

json_t *kv_array_normalize(const json_t *in, bool allow_init, const char *field, char *err,
			   size_t errlen)
{
	json_t *out = json_array(), *kv;
	size_t i;

	if (!out)
		return NULL;
	if (!in || json_is_null(in))
		return out;
	if (!json_is_array(in)) {
		snprintf(err, errlen, MALFORMED "%s must be an array of {key, value}", field);
		goto fail;
	}
	json_array_foreach(in, i, kv) {
		json_t *key = json_object_get(kv, "key"), *value = json_object_get(kv, "value");
		json_t *init = json_object_get(kv, "init"), *item;

		if (!json_is_object(kv) || !json_is_string(key)) {
			snprintf(err, errlen, MALFORMED "%s[%zu] must be an object with a string 'key'",
				 field, i);
			goto fail;
		}
		if (init && !json_is_boolean(init)) {
			snprintf(err, errlen, MALFORMED "%s[%zu].init must be a boolean", field, i);
			goto fail;
		}
		item = json_pack("{s:O,s:O}", "key", key, "value", value ? value : json_null());
		if (!item)
			goto fail;
		if (allow_init && json_is_true(init))
			json_object_set_new(item, "init", json_true());
		json_kv_del(out, json_string_value(key));
		json_array_append_new(out, item);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

json_t *kv_array_merge(const json_t *a, const json_t *b)
{
	json_t *out = json_is_array(a) ? json_deep_copy(a) : json_array(), *kv;
	size_t i;

	if (!out)
		out = json_array();
	json_array_foreach(b, i, kv) {
		const char *key = json_obj_str(kv, "key");

		if (!key)
			continue;
		json_kv_del(out, key);
		json_array_append(out, kv);
	}
	return out;
}

static int version_parts(const char *s, long v[3])
{
	for (int i = 0; i < 3; i++) {
		char *end;

		if (!isdigit((unsigned char)*s))
			return -1;
		v[i] = strtol(s, &end, 10);
		if (v[i] < 0 || v[i] > VERSION_PART_MAX)
			return -1;
		s = end;
		if (i < 2 && *s++ != '.')
			return -1;
	}
	return *s ? -1 : 0;
}

bool version_valid(const char *s)
{
	long v[3];

	return !version_parts(s, v) && (v[0] || v[1] || v[2]);
}

char *version_bump(const char *s)
{
	long v[3] = { 0, 0, 0 };
	char *out;

	if (version_parts(s, v))
		v[0] = v[1] = v[2] = 0;
	/* At the largest part the next one up carries, so that what is stored stays a
	 * valid version (fuzz corpus entity/version_edge); the very last one stays. */
	if (v[2] < VERSION_PART_MAX) {
		v[2]++;
	} else if (v[1] < VERSION_PART_MAX) {
		v[1]++;
		v[2] = 0;
	} else if (v[0] < VERSION_PART_MAX) {
		v[0]++;
		v[1] = v[2] = 0;
	}
	if (asprintf(&out, "%ld.%ld.%ld", v[0], v[1], v[2]) < 0)
		return NULL;
	return out;
}

size_t json_size(const json_t *j)
{
	/* jansson measures without writing when given no buffer */
	return j ? json_dumpb(j, NULL, 0, JSON_DUMP_FLAGS) : 0;
}

static json_t *sequence_normalize(const json_t *in, const char *ns, char *err, size_t errlen)
{
	json_t *comps = json_object_get(in, "components"), *out, *c;
	size_t i;

	if (!json_is_array(comps)) {
		snprintf(err, errlen, MALFORMED "exec.components must be an array of action names");
		return NULL;
	}
	out = json_array();
	json_array_foreach(comps, i, c) {
		char name[4 * NAME_MAX_LEN];
		struct fqn f;

		if (!json_is_string(c) || fqn_parse(json_string_value(c), ns, false, &f)) {
			snprintf(err, errlen,
				 MALFORMED "exec.components[%zu] is not a fully qualified action name",
				 i);
			json_decref(out);
			return NULL;
		}
		fqn_format(&f, name, sizeof(name));
		json_array_append_new(out, json_string(name));
	}
	return json_pack("{s:s,s:o}", "kind", "sequence", "components", out);
}

json_t *exec_normalize(const struct runtimes *rt, const json_t *in, const char *ns, int *status,
		       char *err, size_t errlen)
{
	json_t *code, *main_, *image, *out;
	const char *kind_in, *kind;

	*status = 400;
	if (!json_is_object(in)) {
		snprintf(err, errlen, MALFORMED "exec must be an object");
		return NULL;
	}
	kind_in = json_obj_str(in, "kind");
	if (!kind_in) {
		snprintf(err, errlen, MALFORMED "exec.kind is required");
		return NULL;
	}
	kind = runtimes_resolve(rt, kind_in);
	if (!kind) {
		snprintf(err, errlen,
			 "The specified runtime '%s' is not supported by this platform. Valid "
			 "values are: %s.",
			 kind_in, runtimes_valid_values(rt));
		return NULL;
	}
	if (!strcmp(kind, "sequence"))
		return sequence_normalize(in, ns, err, errlen);

	code = json_object_get(in, "code");
	if (!code)
		code = json_object_get(in, "jar");
	if (code && !json_is_string(code) && !json_is_null(code)) {
		snprintf(err, errlen, MALFORMED "exec.code must be a string");
		return NULL;
	}
	main_ = json_object_get(in, "main");
	if (main_ && !json_is_string(main_) && !json_is_null(main_)) {
		snprintf(err, errlen, MALFORMED "exec.main must be a string");
		return NULL;
	}
	if (json_string_length(code) > EXEC_SIZE_MAX) {
		*status = 413;
		snprintf(err, errlen, "exec larger than allowed: %zu > %llu bytes.",
			 json_string_length(code), (unsigned long long)EXEC_SIZE_MAX);
		return NULL;
	}
	out = json_pack("{s:s}", "kind", kind);
	if (!strcmp(kind, "blackbox")) {
		image = json_object_get(in, "image");
		if (!json_is_string(image) || !json_string_length(image)) {
			snprintf(err, errlen, MALFORMED "exec.image is required for a blackbox action");
			json_decref(out);
			return NULL;
		}
		json_object_set(out, "image", image);
		if (json_string_length(code) == 0)
			code = NULL; /* empty code is no code */
	} else if (!code || json_is_null(code)) {
		snprintf(err, errlen, MALFORMED "exec.code is required for kind '%s'", kind);
		json_decref(out);
		return NULL;
	}
	if (code) {
		const char *s = json_string_value(code);
		size_t len = json_string_length(code), b = 0;
		bool binary;

		/* OpenWhisk computes "binary" from string code and ignores the client's flag;
		 * trimming mirrors its check. */
		while (b < len && isspace((unsigned char)s[b]))
			b++;
		while (len > b && isspace((unsigned char)s[len - 1]))
			len--;
		binary = base64_looks_binary(s + b, len - b);
		json_object_set(out, "code", code);
		json_object_set_new(out, "binary", json_boolean(binary));
	} else {
		json_object_set_new(out, "binary", json_false());
	}
	if (json_is_string(main_) && json_string_length(main_))
		json_object_set(out, "main", main_);
	return out;
}

json_t *exec_without_code(const json_t *exec)
{
	json_t *out = json_deep_copy(exec);

	json_object_del(out, "code");
	return out;
}
