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

int store_open_second(const char *uri, struct store **out)
{
	const char *path = strncmp(uri, "sqlite:", 7) ? uri : uri + 7;

	if (store_uri_is_pg(uri))
		return store_pg_open_second(uri, out);
	/* A temporary or in-memory SQLite database is its connection's own: a second
	 * connection would open another database. */
	if (!*path || !strcmp(path, ":memory:") || !strncmp(path, "file:", 5))
		return -EINVAL;
	return store_open(uri, out);
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
