// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	memset(rec, 0, sizeof(*rec));
}

void subject_clear(struct subject *s)
{
	json_decref(s->limits);
	memset(s, 0, sizeof(*s));
}

int store_open(const char *uri, struct store **out)
{
	if (!strncmp(uri, "sqlite:", 7))
		return store_sqlite_open(uri + 7, out);
	if (strstr(uri, "://"))
		return -EPROTONOSUPPORT;
	return store_sqlite_open(uri, out);
}
