// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "store.h"

static const char *const collections[] = {
	[ENTITY_ACTION] = "actions",
	[ENTITY_PACKAGE] = "packages",
	[ENTITY_TRIGGER] = "triggers",
	[ENTITY_RULE] = "rules",
};

const char *entity_type_collection(enum entity_type type)
{
	return type < _ENTITY_TYPE_MAX ? collections[type] : "unknown";
}

void entity_rec_clear(struct entity_rec *rec)
{
	free(rec->docid);
	free(rec->path);
	free(rec->root);
	free(rec->name);
	json_decref(rec->doc);
	json_decref(rec->summary);
	free(rec->doc_text);
	memset(rec, 0, sizeof(*rec));
}

void subject_clear(struct subject *s)
{
	json_decref(s->limits);
	memset(s, 0, sizeof(*s));
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

static int dump_to_buf(const char *text, size_t size, void *data)
{
	return buf_append(data, text, size) ? -1 : 0;
}

static int put_json(struct buf *b, const json_t *v)
{
	return json_dump_callback(v, dump_to_buf, b, JSON_DUMP_FLAGS) ? -ENOMEM : 0;
}

/* ,"key":value when v is there. */
static int put_member(struct buf *b, bool *first, const char *key, const json_t *v)
{
	int err;

	if (!v)
		return 0;
	err = buf_puts(b, *first ? "\"" : ",\"");
	err = err ?: buf_puts(b, key);
	err = err ?: buf_puts(b, "\":");
	err = err ?: put_json(b, v);
	*first = false;
	return err;
}

/* The fields an activation list shows without docs=true, written as JSON text directly
 * (no summary object to build, fill and dump for every record). */
static int put_summary(json_t *doc, struct buf *b)
{
	static const char *const fields[] = { "namespace",   "name",	     "version",
					      "publish",     "annotations", "activationId",
					      "start",	     "cause" };
	json_t *end = json_object_get(doc, "end");
	bool first = true;
	int err = buf_append(b, "{", 1);

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]) && !err; i++)
		err = put_member(b, &first, fields[i], json_object_get(doc, fields[i]));
	if (!err && json_integer_value(end) > 0) {
		err = put_member(b, &first, "end", end);
		err = err ?: put_member(b, &first, "duration", json_object_get(doc, "duration"));
		err = err ?: put_member(b, &first, "statusCode",
					json_object_get(json_object_get(doc, "response"),
							"statusCode"));
	}
	err = err ?: buf_append(b, "}", 1);
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

int activation_batch_add(struct activation_batch *b, json_t *doc, const char *text, size_t len)
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
	err = err ?: put_summary(doc, &b->text);
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

bool store_uri_is_pg(const char *uri)
{
	size_t key = strspn(uri, "abcdefghijklmnopqrstuvwxyz_");

	if (!strncmp(uri, "postgresql://", 13) || !strncmp(uri, "postgres://", 11))
		return true;
	/* libpq's key=value form ("host=/run/postgresql dbname=xwhisk"); a file name that
	 * looks like that can still be given as sqlite:NAME. */
	return key > 0 && uri[key + strspn(uri + key, " ")] == '=';
}

/* The length of a key=value string's value: to the space or '&', or a quoted one with its
 * quotes (libpq: 'a b', with \' and \\ escaped inside). */
static size_t secret_length(const char *v)
{
	size_t i = 1;

	if (*v != '\'')
		return strcspn(v, " &");
	for (; v[i] && v[i] != '\''; i++)
		if (v[i] == '\\' && v[i + 1])
			i++;
	return v[i] ? i + 1 : i;
}

void store_uri_redact(const char *uri, char *buf, size_t len)
{
	const char *user = strstr(uri, "://"), *at, *colon, *pw;
	size_t n = 0;

	buf[0] = '\0';
	/* scheme://user:SECRET@host... */
	if (user && (at = strchr(user + 3, '@')) &&
	    (colon = memchr(user + 3, ':', (size_t)(at - user - 3))) &&
	    !memchr(user + 3, '/', (size_t)(at - user - 3))) {
		n = (size_t)snprintf(buf, len, "%.*s***", (int)(colon + 1 - uri), uri);
		uri = at;
	}
	/* password=SECRET in a key=value string or a URI's query */
	if (n < len && (pw = strstr(uri, "password="))) {
		n += (size_t)snprintf(buf + n, len - n, "%.*s***", (int)(pw + 9 - uri), uri);
		uri = pw + 9 + secret_length(pw + 9);
	}
	if (n < len)
		snprintf(buf + n, len - n, "%s", uri);
}

int store_open(const char *uri, struct store **out)
{
	if (!strncmp(uri, "sqlite:", 7))
		return store_sqlite_open(uri + 7, out);
	if (store_uri_is_pg(uri))
		return store_pg_open(uri, out);
	if (strstr(uri, "://"))
		return -EPROTONOSUPPORT;
	return store_sqlite_open(uri, out);
}
