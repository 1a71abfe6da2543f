// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <string.h>

#include "activation.h"
#include "json.h"
#include "util.h"

const char *activation_status_text(int code)
{
	switch (code) {
	case ACTIVATION_SUCCESS:
		return "success";
	case ACTIVATION_APPLICATION_ERROR:
		return "application error";
	case ACTIVATION_DEVELOPER_ERROR:
		return "action developer error";
	default:
		return "whisk internal error";
	}
}

json_t *activation_extended(const json_t *stored)
{
	/* Only top-level members change: the rest (result, logs) is shared, not copied. */
	json_t *out = json_copy((json_t *)stored), *resp, *ext;
	json_int_t code, start, end;

	if (!out)
		return NULL;
	resp = json_object_get(out, "response");
	code = json_integer_value(json_object_get(resp, "statusCode"));
	ext = json_object();
	json_object_set_new(ext, "result", json_ref_or_object(json_object_get(resp, "result")));
	if (json_object_get(resp, "size"))
		json_object_set(ext, "size", json_object_get(resp, "size"));
	json_object_set_new(ext, "status", json_string(activation_status_text((int)code)));
	json_object_set_new(ext, "success", json_boolean(code == ACTIVATION_SUCCESS));
	json_object_set_new(out, "response", ext);
	start = json_integer_value(json_object_get(out, "start"));
	end = json_integer_value(json_object_get(out, "end"));
	if (end <= 0) {
		json_object_del(out, "end");
		json_object_del(out, "duration");
	} else if (!json_object_get(out, "duration")) {
		json_object_set_new(out, "duration", json_integer(end - start));
	}
	return out;
}

void activation_id_new(char *out)
{
	static const char digits[] = "0123456789abcdef";
	uint64_t ms = clock_real_us() / 1000;

	for (int i = 11; i >= 0; i--, ms >>= 4)
		out[i] = digits[ms & 0xf];
	random_hex(out + 12, 20);
}

bool activation_id_valid(const char *id)
{
	if (!id || strlen(id) != 32)
		return false;
	for (int i = 0; i < 32; i++)
		if (!isxdigit((unsigned char)id[i]) || isupper((unsigned char)id[i]))
			return false;
	return true;
}

const char *activation_check(const json_t *stored)
{
	json_t *resp = json_object_get(stored, "response");

	if (!json_is_object(stored))
		return "a record must be an object";
	if (!activation_id_valid(json_obj_str(stored, "activationId")))
		return "activationId must be 32 lowercase hex digits";
	if (!json_obj_str(stored, "namespace") || !json_obj_str(stored, "name"))
		return "namespace and name are required";
	if (!json_is_integer(json_object_get(stored, "start")))
		return "start must be epoch milliseconds";
	if (json_object_get(stored, "end") && !json_is_integer(json_object_get(stored, "end")))
		return "end must be epoch milliseconds";
	if (!json_is_object(resp) || !json_is_integer(json_object_get(resp, "statusCode")) ||
	    json_integer_value(json_object_get(resp, "statusCode")) < 0 ||
	    json_integer_value(json_object_get(resp, "statusCode")) > 3)
		return "response.statusCode must be 0 to 3";
	if (json_object_get(stored, "logs") && !json_is_array(json_object_get(stored, "logs")))
		return "logs must be an array";
	return NULL;
}
