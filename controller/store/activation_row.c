// SPDX-License-Identifier: Apache-2.0
/*
 * What the store keeps of an activation record (struct activation_row), made once per
 * record into its batch's one buffer: id, namespace, the name lists filter on, the summary
 * a list shows, and the document (the record's own text when it came with one).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "json.h"
#include "json_text.h"
#include "store.h"

/* The members of a record its row is made of, found in its text by one scan. First the
 * summary's fields, in the order a list shows them (end and duration only when the record
 * has ended, with response.statusCode: statusCode of the summary); then those only
 * activation_check reads. */
enum record_member {
	SUM_NAMESPACE,
	SUM_NAME,
	SUM_VERSION,
	SUM_PUBLISH,
	SUM_ANNOTATIONS,
	SUM_ACTIVATION_ID,
	SUM_START,
	SUM_CAUSE,
	SUM_END,
	SUM_DURATION,
	REC_RESPONSE,
	REC_LOGS,
	_REC_MAX,
};

static const char *const record_keys[_REC_MAX] = {
	"namespace", "name",  "version", "publish", "annotations", "activationId",
	"start",     "cause", "end",     "duration", "response",   "logs",
};

static int dump_to_buf(const char *text, size_t size, void *data)
{
	return buf_append(data, text, size) ? -1 : 0;
}

static int put_json(struct buf *b, const json_t *v)
{
	return json_dump_callback(v, dump_to_buf, b, JSON_DUMP_FLAGS) ? -ENOMEM : 0;
}

/* ,"key":value, the value from the text's span when there are spans, else from the tree;
 * nothing when the record has no such member. */
static int put_member(struct buf *b, bool *first, enum record_member f,
		      const struct json_span *spans, const json_t *doc)
{
	const json_t *v = spans ? NULL : json_object_get(doc, record_keys[f]);
	int err;

	if (spans ? !spans[f].p : !v)
		return 0;
	err = buf_puts(b, *first ? "\"" : ",\"");
	err = err ?: buf_puts(b, record_keys[f]);
	err = err ?: buf_puts(b, "\":");
	err = err ?: (spans ? buf_append(b, spans[f].p, spans[f].len) : put_json(b, v));
	*first = false;
	return err;
}

/* The fields an activation list shows without docs=true, written as JSON text: from the
 * text's spans, or from the tree when there are none. */
static int put_summary(json_t *doc, const struct json_span *spans, struct buf *b)
{
	json_int_t code = json_integer_value(json_object_get(json_object_get(doc, "response"),
							      "statusCode"));
	bool first = true;
	int err = buf_append(b, "{", 1);

	for (int f = SUM_NAMESPACE; f <= SUM_CAUSE && !err; f++)
		err = put_member(b, &first, f, spans, doc);
	if (!err && json_integer_value(json_object_get(doc, "end")) > 0) {
		err = put_member(b, &first, SUM_END, spans, doc);
		err = err ?: put_member(b, &first, SUM_DURATION, spans, doc);
		/* activation_check: an integer from 0 to 3 */
		err = err ?: buf_printf(b, ",\"statusCode\":%" JSON_INTEGER_FORMAT, code);
	}
	err = err ?: buf_append(b, "}", 1);
	return err ?: buf_append(b, "", 1);
}

/* The name an activation list filters on: "action" or "pkg/action", from the binding
 * annotation when invoked through one, otherwise from the path annotation. */
static int put_filter_name(json_t *doc, struct buf *b)
{
	json_t *ann = json_object_get(doc, "annotations");
	const char *name = json_obj_str(doc, "name") ?: "";
	json_t *binding = json_kv_get(ann, "binding");
	const char *path = json_string_value(json_kv_get(ann, "path"));
	const char *slash;
	int err;

	if (json_is_string(binding) && (slash = strchr(json_string_value(binding), '/'))) {
		err = buf_puts(b, slash + 1);
		err = err ?: buf_append(b, "/", 1);
		err = err ?: buf_puts(b, name);
	} else if (path && (slash = strchr(path, '/')) && strchr(slash + 1, '/')) {
		err = buf_puts(b, slash + 1);
	} else {
		err = buf_puts(b, name);
	}
	return err ?: buf_append(b, "", 1);
}

static int put_text(struct buf *b, const char *s)
{
	int err = buf_puts(b, s ?: "");

	return err ?: buf_append(b, "", 1);
}

static int batch_grow(struct activation_batch *b)
{
	size_t cap = b->cap ? b->cap * 2 : 64;
	struct activation_row *rows;

	if (b->n < b->cap)
		return 0;
	rows = realloc(b->rows, cap * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	b->rows = rows;
	b->cap = cap;
	return 0;
}

/* Whether the span is an integer of at most 18 digits (no overflow), read within it. */
static bool span_is_short_integer(const struct json_span *sp)
{
	size_t i = sp->len && sp->p[0] == '-';

	if (sp->len <= i || sp->len - i > 18)
		return false;
	while (i < sp->len && sp->p[i] >= '0' && sp->p[i] <= '9')
		i++;
	return i == sp->len;
}

/* A member's value. The text is valid (json_text_valid), so a string without escapes
 * is its bytes between the quotes, and an integer its digits: most of a skeleton's
 * values, made without jansson's parser (a lexer allocated and freed for each). */
static json_t *span_parse(const struct json_span *sp)
{
	const char *p = sp->p;
	size_t len = sp->len;

	if (len >= 2 && p[0] == '"' && !memchr(p + 1, '\\', len - 2))
		return json_stringn_nocheck(p + 1, len - 2);
	if (span_is_short_integer(sp))
		return json_integer(strtoll(p, NULL, 10));
	return json_parse(p, len, NULL, 0);
}

/* The response with its statusCode alone: its result may be a megabyte. */
static json_t *response_skeleton(const struct json_span *sp)
{
	static const char *const key[] = { "statusCode" };
	struct json_span code;
	json_t *resp;

	if (*sp->p != '{')
		return span_parse(sp); /* activation_check refuses it */
	if (!json_text_members(sp->p, sp->p + sp->len, key, 1, &code))
		return NULL;
	resp = json_object();
	if (resp && code.p && json_object_set_new(resp, "statusCode", span_parse(&code))) {
		json_decref(resp);
		return NULL;
	}
	return resp;
}

static bool span_is(const struct json_span *sp, const char *text)
{
	return sp->len == strlen(text) && !memcmp(sp->p, text, sp->len);
}

/*
 * The annotations a row reads (put_filter_name: "binding" and "path"), from the array's
 * text: the elements json_kv_get could find under those keys, in their order, each
 * parsed; the others (limits, waitTime, kind...) were most of a skeleton's cost. One
 * whose key may be spelled with escapes is kept.
 */
static json_t *annotations_skeleton(const struct json_span *sp)
{
	static const char *const kv_keys[] = { "key" };
	const char *p = sp->p, *end = sp->p + sp->len;
	json_t *kept;

	if (*p != '[')
		return span_parse(sp);
	kept = json_array();
	for (p = json_text_ws(p + 1, end); kept && p < end && *p != ']';) {
		const char *elem = p, *last;
		struct json_span key;
		bool keep;

		p = json_text_skip_value(elem, end);
		last = json_text_value_end(elem, p);
		if (*elem != '{')
			keep = false; /* not an object: json_kv_get skips it */
		else if (!json_text_members(elem, last, kv_keys, 1, &key))
			keep = true;
		else
			keep = key.p && (span_is(&key, "\"path\"") || span_is(&key, "\"binding\"") ||
					 memchr(key.p, '\\', key.len));
		if (keep && json_array_append_new(kept, json_parse(elem, (size_t)(last - elem),
								   NULL, 0))) {
			json_decref(kept);
			return NULL;
		}
		if (p < end && *p == ',')
			p = json_text_ws(p + 1, end);
		else
			break;
	}
	return kept;
}

/* The members activation_check and a row read, from a valid text's spans. */
static json_t *skeleton_of(const struct json_span *found)
{
	static const enum record_member read[] = {
		SUM_ACTIVATION_ID, SUM_NAMESPACE, SUM_NAME, SUM_START, SUM_END, SUM_ANNOTATIONS,
		REC_RESPONSE,	   REC_LOGS,
	};
	json_t *doc = json_object();

	for (size_t i = 0; doc && i < sizeof(read) / sizeof(read[0]); i++) {
		const struct json_span *sp = &found[read[i]];
		json_t *v;

		if (!sp->p)
			continue;
		if (read[i] == REC_RESPONSE)
			v = response_skeleton(sp);
		else if (read[i] == REC_LOGS && *sp->p == '[')
			v = json_array(); /* what it holds is nobody's business here */
		else if (read[i] == SUM_ANNOTATIONS)
			v = annotations_skeleton(sp);
		else
			v = span_parse(sp);
		if (json_object_set_new(doc, record_keys[read[i]], v)) {
			json_decref(doc);
			doc = NULL;
		}
	}
	return doc;
}

/* The text's members, when it is valid JSON whose keys hold no escape. */
static bool scan_record(const char *text, size_t len, struct json_span *found)
{
	return json_text_valid(text, len) &&
	       json_text_members(text, text + len, record_keys, _REC_MAX, found);
}

json_t *activation_skeleton(const char *text, size_t len)
{
	struct json_span found[_REC_MAX];

	return scan_record(text, len, found) ? skeleton_of(found) : NULL;
}

static int batch_add_spans(struct activation_batch *b, json_t *doc, const char *text,
			   size_t len, const struct json_span *spans);

int activation_batch_add_text(struct activation_batch *b, const char *text, size_t len,
			      const char **why)
{
	struct json_span found[_REC_MAX];
	json_t *doc;
	int err;

	*why = NULL;
	if (!scan_record(text, len, found) || !(doc = skeleton_of(found)))
		return -EINVAL;
	*why = activation_check(doc);
	err = *why ? 0 : batch_add_spans(b, doc, text, len, found);
	json_decref(doc);
	return err;
}

int activation_batch_add(struct activation_batch *b, json_t *doc, const char *text, size_t len)
{
	struct json_span found[_REC_MAX];

	return batch_add_spans(b, doc, text, len,
			       text && json_text_members(text, text + len, record_keys, _REC_MAX, found)
				       ? found
				       : NULL);
}

/* spans: the members of text, or NULL (no text, or a key written with an escape). */
static int batch_add_spans(struct activation_batch *b, json_t *doc, const char *text,
			   size_t len, const struct json_span *spans)
{
	size_t mark = b->text.len;
	struct activation_row *row;
	int err = batch_grow(b);

	if (err)
		return err;
	row = &b->rows[b->n];
	*row = (struct activation_row){ .doc = text, .doc_len = len };
	row->start = json_integer_value(json_object_get(doc, "start"));
	row->id_at = b->text.len;
	err = put_text(&b->text, json_obj_str(doc, "activationId"));
	row->namespace_at = b->text.len;
	err = err ?: put_text(&b->text, json_obj_str(doc, "namespace"));
	row->filter_at = b->text.len;
	err = err ?: put_filter_name(doc, &b->text);
	row->summary_at = b->text.len;
	err = err ?: put_summary(doc, spans, &b->text);
	row->doc_at = b->text.len;
	if (!err && !text) {
		err = put_json(&b->text, doc);
		row->doc_len = b->text.len - row->doc_at;
		err = err ?: buf_append(&b->text, "", 1);
	}
	if (err) {
		b->text.len = mark; /* nothing of it */
		return err;
	}
	b->n++;
	return 0;
}

void activation_batch_free(struct activation_batch *b)
{
	free(b->rows);
	buf_free(&b->text);
	memset(b, 0, sizeof(*b));
}
