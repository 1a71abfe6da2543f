// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_write.h"
#include "node/activation/invocation.h"
#include "node/activation/record.h"

/* A record of a no-op is some 700 bytes: one allocation for most. With buf_reserve's
 * room for the NUL this is a 1 KB block, which malloc serves from its per-thread cache;
 * 1024 made it a 2 KB one, which it serves from its shared bins (about 1 % of the node's
 * CPU under warm invokes, perf). */
#define RECORD_TEXT_GUESS 1000

json_t *record_error(const char *message)
{
	return record_error_n(message, strlen(message));
}

json_t *record_error_n(const char *message, size_t len)
{
	/* Messages quote what an action answered, which need not be UTF-8: json_pack's "s"
	 * would give NULL, and the record no message at all. */
	return json_pack("{s:o}", "error", json_string_lossy(message, len));
}

void record_clear(struct record *r)
{
	buf_free(&r->text);
	json_decref(r->result);
	json_decref(r->tree);
	memset(r, 0, sizeof(*r));
}

static void write_annotation_int(struct json_writer *jw, const char *key, long long v)
{
	jw_pair_open(jw, key);
	jw_int(jw, v);
	jw_obj_close(jw);
}

static void write_annotation_bool(struct json_writer *jw, const char *key, bool v)
{
	jw_pair_open(jw, key);
	jw_bool(jw, v);
	jw_obj_close(jw);
}

static void write_annotations(struct json_writer *jw, const struct record_parts *p)
{
	const struct action_entry *a = p->action;

	jw_arr_open(jw);
	/* The action's own part is written once, when its entry is built. */
	if (!p->kind || !strcmp(p->kind, a->kind))
		jw_raw_members(jw, a->record_annotations, a->record_annotations_len);
	else
		action_entry_write_annotations(a, p->kind, jw);
	if (p->timing) {
		write_annotation_bool(jw, "timeout", p->timed_out);
		write_annotation_int(jw, "waitTime", (long long)p->wait_ms);
	}
	if (p->init_ms)
		write_annotation_int(jw, "initTime", (long long)p->init_ms);
	if (p->caused_by_sequence) {
		jw_pair_open(jw, "causedBy");
		jw_str(jw, "sequence");
		jw_obj_close(jw);
	}
	if (p->cached)
		write_annotation_bool(jw, "cached", true);
	jw_arr_close(jw);
}

static void write_response(struct json_writer *jw, const struct record_parts *p,
			   struct record *out)
{
	out->response_off = jw->b->len;
	jw_obj_open(jw);
	jw_key(jw, "statusCode");
	jw_int(jw, p->status);
	jw_key(jw, "result");
	out->result_off = jw->b->len;
	if (p->result_json)
		jw_raw(jw, p->result_json, p->result_json_len);
	else if (p->result)
		jw_value(jw, p->result);
	else
		jw_raw(jw, "{}", 2);
	out->result_len = jw->b->len - out->result_off;
	if (p->size) {
		jw_key(jw, "size");
		jw_int(jw, (long long)p->size);
	}
	jw_obj_close(jw);
	out->size = p->size;
	/* The extended form drops end and duration when end is 0: only the tree knows how. */
	out->response_len = p->end_ms ? jw->b->len - out->response_off : 0;
}

int record_write(const struct record_parts *p, struct record *out)
{
	const struct action_entry *a = p->action;
	struct json_writer jw;

	record_clear(out);
	snprintf(out->activation_id, sizeof(out->activation_id), "%s", p->activation_id);
	out->status = p->status;
	out->duration_ms = p->end_ms - p->start_ms;
	if (p->result)
		out->result = json_incref((json_t *)p->result);
	if (buf_reserve(&out->text, RECORD_TEXT_GUESS))
		return -ENOMEM;
	jw_init(&jw, &out->text);
	jw_obj_open(&jw);
	jw_key(&jw, "namespace");
	jw_str(&jw, p->ns);
	jw_key(&jw, "name");
	jw_str(&jw, a->name);
	jw_key(&jw, "subject");
	jw_str(&jw, p->ns);
	jw_key(&jw, "activationId");
	jw_str(&jw, p->activation_id);
	jw_key(&jw, "start");
	jw_int(&jw, (long long)p->start_ms);
	jw_key(&jw, "end");
	jw_int(&jw, (long long)p->end_ms);
	jw_key(&jw, "duration");
	jw_int(&jw, (long long)out->duration_ms);
	jw_key(&jw, "response");
	write_response(&jw, p, out);
	jw_key(&jw, "logs");
	if (p->logs)
		jw_value(&jw, p->logs);
	else
		jw_raw(&jw, "[]", 2);
	jw_key(&jw, "annotations");
	write_annotations(&jw, p);
	jw_key(&jw, "version");
	jw_str(&jw, a->version);
	jw_key(&jw, "publish");
	jw_bool(&jw, false);
	if (p->cause && p->cause[0]) {
		jw_key(&jw, "cause");
		jw_str(&jw, p->cause);
	}
	jw_obj_close(&jw);
	/* Out of memory part way: no record, rather than a prefix whose offsets mislead. */
	if (jw.err)
		record_clear(out);
	return jw.err;
}

/* Writes tree's members as they are, noting where response.result lands. */
static void write_tree_members(struct json_writer *jw, const json_t *obj, bool top,
			       struct record *out)
{
	const char *key;
	json_t *v;

	jw_obj_open(jw);
	json_object_foreach((json_t *)obj, key, v) {
		jw_key(jw, key);
		if (top && !strcmp(key, "response") && json_is_object(v)) {
			write_tree_members(jw, v, false, out);
			continue;
		}
		if (!top && !strcmp(key, "result"))
			out->result_off = jw->b->len;
		jw_value(jw, v);
		if (!top && !strcmp(key, "result"))
			out->result_len = jw->b->len - out->result_off;
	}
	jw_obj_close(jw);
}

int record_from_tree(const json_t *tree, struct record *out)
{
	json_t *resp = json_object_get(tree, "response");
	struct json_writer jw;

	record_clear(out);
	if (!json_is_object(tree))
		return -EINVAL;
	snprintf(out->activation_id, sizeof(out->activation_id), "%s",
		 json_obj_str(tree, "activationId") ?: "");
	out->status = (int)json_integer_value(json_object_get(resp, "statusCode"));
	out->duration_ms = (uint64_t)json_integer_value(json_object_get(tree, "duration"));
	out->result = json_incref(json_object_get(resp, "result"));
	out->tree = json_incref((json_t *)tree);
	jw_init(&jw, &out->text);
	write_tree_members(&jw, tree, true, out);
	if (jw.err)
		record_clear(out);
	return jw.err;
}

const json_t *record_result(struct record *r)
{
	if (!r->result && r->result_len)
		r->result = json_parse(r->text.data + r->result_off, r->result_len, NULL, 0);
	if (!r->result)
		r->result = json_object();
	return r->result;
}

const json_t *record_tree(struct record *r)
{
	if (!r->tree)
		r->tree = json_parse(r->text.data, r->text.len, NULL, 0);
	return r->tree;
}

int record_write_extended(struct record *r, struct buf *out)
{
	struct json_writer jw;
	json_t *ext;

	jw_init(&jw, out);
	if (!r->response_len) {
		ext = record_tree(r) ? activation_extended(record_tree(r)) : NULL;
		if (!ext)
			return -ENOMEM;
		jw_value(&jw, ext);
		json_decref(ext);
		return jw.err;
	}
	/* The stored text with its response replaced, as activation_extended replaces it. */
	jw_raw(&jw, r->text.data, r->response_off);
	jw_obj_open(&jw);
	jw_key(&jw, "result");
	jw_raw(&jw, r->text.data + r->result_off, r->result_len);
	if (r->size) {
		jw_key(&jw, "size");
		jw_int(&jw, (long long)r->size);
	}
	jw_key(&jw, "status");
	jw_str(&jw, activation_status_text(r->status));
	jw_key(&jw, "success");
	jw_bool(&jw, r->status == ACTIVATION_SUCCESS);
	jw_obj_close(&jw);
	/* What follows the response, as it is (a comma first: raw, not a token). */
	if (!jw.err && buf_append(out, r->text.data + r->response_off + r->response_len,
				  r->text.len - r->response_off - r->response_len))
		jw.err = -ENOMEM;
	return jw.err;
}

int record_interrupted(const struct action_entry *a, const struct identity *who,
		       const char *activation_id, uint64_t start_ms, const char *kind,
		       struct record *out)
{
	static const char error[] = "{\"error\":\"The activation was interrupted: its node "
				    "stopped before it ended.\"}";

	return record_write(&(struct record_parts){
				    .action = a,
				    .ns = who->ns,
				    .activation_id = activation_id,
				    .start_ms = start_ms,
				    .end_ms = start_ms,
				    .status = ACTIVATION_WHISK_ERROR,
				    .result_json = error,
				    .result_json_len = sizeof(error) - 1,
				    .kind = kind,
			    },
			    out);
}

int record_of_invocation(const struct invocation *inv, struct record *out)
{
	/* invocation_finish() has set both */
	uint64_t run_start = inv->start_ms;
	/* On a cold start the activation starts with /init, as OpenWhisk counts it. */
	uint64_t start = run_start - (inv->cold && inv->init_ms <= run_start ? inv->init_ms : 0);

	return record_write(&(struct record_parts){
				    .action = inv->action,
				    .ns = inv->who.ns,
				    .activation_id = inv->activation_id,
				    .start_ms = start,
				    .end_ms = inv->end_ms,
				    .status = inv->status,
				    .result = inv->result,
				    /* The answer's text, when it was kept so (no result). */
				    .result_json = inv->result ? NULL : inv->answer.data,
				    .result_json_len = inv->result ? 0 : inv->answer.len,
				    /* As OpenWhisk: the length of what /run answered. */
				    .size = inv->result_size,
				    .logs = inv->logs,
				    .timing = true,
				    .timed_out = inv->timed_out,
				    .wait_ms = start > inv->received_ms ? start - inv->received_ms : 0,
				    /* Only when an /init ran for it (a failed provisioning has
				     * none). */
				    .init_ms = inv->cold ? inv->init_ms : 0,
				    .caused_by_sequence = inv->cause[0] != '\0',
				    .cause = inv->cause,
			    },
			    out);
}
