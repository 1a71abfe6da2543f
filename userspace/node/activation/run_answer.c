// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "json_text.h"
#include "node/activation/record.h"
#include "node/activation/run_answer.h"

/* Most answers are kept as their text, without a tree (allocated, then dumped into the
 * record, then freed): an object or array that json_parse would accept, on one line (a
 * record is a line of the spool), whose "error" is found in place and which asks nothing
 * of the platform (__ow_cache takes the tree's path). Whoever reads the result later (a
 * sequence's next step, a web action) parses the record's text of it. */
static bool take_answer_text(struct invocation *inv, const char *body, size_t len)
{
	static const char *const keys[] = { "error", "__ow_cache" };
	struct json_span found[2] = { 0 };

	if (!len || (body[0] != '{' && body[0] != '[') || memchr(body, '\n', len) ||
	    memchr(body, '\r', len) || !json_text_valid(body, len))
		return false;
	if (body[0] == '{' &&
	    (!json_text_members(body, body + len, keys, 2, found) || found[1].p))
		return false;
	if (buf_append(&inv->answer, body, len))
		return false;
	inv->status = found[0].p ? ACTIVATION_APPLICATION_ERROR : ACTIVATION_SUCCESS;
	return true;
}

/* OpenWhisk's reading of a /run answer (ContainerProxy, ActivationResult). */
void invocation_take_answer(struct invocation *inv, int status, const char *body, size_t len)
{
	json_t *j;
	char msg[512];

	json_decref(inv->result);
	inv->result = NULL;
	buf_reset(&inv->answer);
	inv->result_size = len;
	if (len > RESULT_MAX) {
		struct buf b = BUF_INIT;

		buf_printf(&b,
			   "The action produced a response that exceeded the allowed length: %zu > "
			   "%u bytes. The truncated response was: ",
			   len, RESULT_MAX);
		buf_append(&b, body, RESULT_MAX);
		inv->status = ACTIVATION_APPLICATION_ERROR;
		inv->result = record_error_n(b.data ? b.data : "", b.len);
		buf_free(&b);
		return;
	}
	if (status == 200 && take_answer_text(inv, body, len))
		return;
	/* Parsed only when it will be kept: an oversized answer is cut, not parsed. */
	j = len ? json_parse(body, len, NULL, 0) : NULL;
	if (status == 200 && (json_is_object(j) || json_is_array(j))) {
		inv->status = json_is_object(j) && json_object_get(j, "error") ? ACTIVATION_APPLICATION_ERROR
										 : ACTIVATION_SUCCESS;
		inv->result = j;
		return;
	}
	inv->status = ACTIVATION_DEVELOPER_ERROR;
	if (status != 200 && json_is_object(j) && json_object_get(j, "error")) {
		inv->result = json_pack("{s:O}", "error", json_object_get(j, "error"));
	} else {
		snprintf(msg, sizeof(msg),
			 "The action did not produce a valid JSON or JSON Array response: %.*s",
			 (int)(len > 400 ? 400 : len), body ? body : "");
		inv->result = record_error(msg);
	}
	json_decref(j);
}
