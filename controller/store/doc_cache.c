// SPDX-License-Identifier: Apache-2.0
/*
 * The parsed documents of the large entities read or written last (store.h:
 * store_with_doc_cache). Parsing a 47 MB action takes the loop seconds; a copy of a kept
 * one takes milliseconds, after a revision check that does not read the document. A
 * document is handed out only while the store holds its revision and write time, whoever
 * wrote since (another connection, another controller), so nothing stale is read. Used
 * on the loop's connection only; the offload thread's writes come in by
 * entity_put_elsewhere.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "store.h"

/* Documents from this size on are kept: a smaller one parses quickly. */
#define DOC_CACHE_MIN (1u << 20)
/* A large action (48 MB of code) takes about as much memory parsed as its text. */
#define DOC_CACHE_SLOTS 2

struct slot {
	struct entity_rec rec; /* docid NULL: empty; no summary, no doc_text */
	uint64_t used;
};

struct doc_cache {
	struct store base;
	struct store_ops ops; /* the template, less the change feed when inner has none */
	struct store *inner;
	struct slot slots[DOC_CACHE_SLOTS];
	uint64_t clock;
};

#define CACHE(st) ((struct doc_cache *)(st))
#define INNER(st) (CACHE(st)->inner)

/* A copy of from, with doc (taken) as its document, else a deep copy of from's. */
static int rec_copy(const struct entity_rec *from, struct entity_rec *to, json_t *doc)
{
	struct entity_rec r = {
		.docid = strdup(from->docid),
		.path = strdup(from->path),
		.root = strdup(from->root),
		.name = strdup(from->name),
		.type = from->type,
		.rev = from->rev,
		.updated = from->updated,
		.publish = from->publish,
		.binding = from->binding,
		/* A copy: callers may change what they get. */
		.doc = doc ? doc : json_deep_copy(from->doc),
	};

	if (!r.docid || !r.path || !r.root || !r.name || !r.doc) {
		entity_rec_clear(&r);
		return -ENOMEM;
	}
	*to = r;
	return 0;
}

static struct slot *slot_find(struct doc_cache *c, const char *docid)
{
	for (int i = 0; i < DOC_CACHE_SLOTS; i++)
		if (c->slots[i].rec.docid && !strcmp(c->slots[i].rec.docid, docid))
			return &c->slots[i];
	return NULL;
}

static struct slot *slot_free_or_oldest(struct doc_cache *c)
{
	struct slot *s = &c->slots[0];

	for (int i = 0; i < DOC_CACHE_SLOTS; i++) {
		if (!c->slots[i].rec.docid)
			return &c->slots[i];
		if (c->slots[i].used < s->used)
			s = &c->slots[i];
	}
	return s;
}

static void drop(struct doc_cache *c, const char *docid)
{
	struct slot *s = slot_find(c, docid);

	if (s)
		entity_rec_clear(&s->rec);
}

/* Keeps rec's document when it is large (in the least recently used slot): a copy, or
 * rec's own when share (its owner changes it no more); a smaller version of a kept one
 * drops it. */
static void keep(struct doc_cache *c, const struct entity_rec *rec, bool share)
{
	json_t *doc;

	struct slot *s = slot_find(c, rec->docid);

	if (!rec->doc || !json_text_at_least(rec->doc, DOC_CACHE_MIN)) {
		if (s)
			entity_rec_clear(&s->rec);
		return;
	}
	if (!s)
		s = slot_free_or_oldest(c);
	entity_rec_clear(&s->rec);
	doc = share ? json_incref(rec->doc) : NULL;
	if (!rec_copy(rec, &s->rec, doc))
		s->used = ++c->clock;
}

static int dc_entity_get(struct store *st, const char *docid, struct entity_rec *out)
{
	struct doc_cache *c = CACHE(st);
	struct slot *s = slot_find(c, docid);
	int64_t rev, updated;
	int err;

	if (s && !INNER(st)->ops->entity_rev(INNER(st), docid, &rev, &updated) &&
	    rev == s->rec.rev && updated == s->rec.updated && !rec_copy(&s->rec, out, NULL)) {
		s->used = ++c->clock;
		return 0;
	}
	err = INNER(st)->ops->entity_get(INNER(st), docid, out);
	if (!err)
		keep(c, out, false);
	else if (err == -ENOENT)
		drop(c, docid);
	return err;
}

static int dc_entity_put(struct store *st, struct entity_rec *rec, int64_t expect_rev)
{
	int err = INNER(st)->ops->entity_put(INNER(st), rec, expect_rev);

	if (err)
		drop(CACHE(st), rec->docid);
	else
		keep(CACHE(st), rec, false);
	return err;
}

static void dc_entity_put_elsewhere(struct store *st, const struct entity_rec *rec)
{
	keep(CACHE(st), rec, true);
	if (INNER(st)->ops->entity_put_elsewhere)
		INNER(st)->ops->entity_put_elsewhere(INNER(st), rec);
}

static int dc_entity_delete(struct store *st, const char *docid, int64_t expect_rev)
{
	drop(CACHE(st), docid);
	return INNER(st)->ops->entity_delete(INNER(st), docid, expect_rev);
}

static int dc_entity_rev(struct store *st, const char *docid, int64_t *rev, int64_t *updated)
{
	return INNER(st)->ops->entity_rev(INNER(st), docid, rev, updated);
}

static void dc_close(struct store *st)
{
	for (int i = 0; i < DOC_CACHE_SLOTS; i++)
		entity_rec_clear(&CACHE(st)->slots[i].rec);
	store_close(INNER(st));
	free(st);
}

static int dc_begin(struct store *st)
{
	return INNER(st)->ops->begin(INNER(st));
}

static int dc_commit(struct store *st)
{
	return INNER(st)->ops->commit(INNER(st));
}

/* A write rolled back leaves a kept revision the store may give to another document. */
static void dc_rollback(struct store *st)
{
	for (int i = 0; i < DOC_CACHE_SLOTS; i++)
		entity_rec_clear(&CACHE(st)->slots[i].rec);
	INNER(st)->ops->rollback(INNER(st));
}

static int dc_entity_list(struct store *st, const struct entity_query *q, json_t **out)
{
	return INNER(st)->ops->entity_list(INNER(st), q, out);
}

static int dc_entity_count(struct store *st, const struct entity_query *q, int64_t *out)
{
	return INNER(st)->ops->entity_count(INNER(st), q, out);
}

static int dc_subject_get(struct store *st, const char *ns, struct subject *out)
{
	return INNER(st)->ops->subject_get(INNER(st), ns, out);
}

static int dc_subject_by_uuid(struct store *st, const char *uuid, struct subject *out)
{
	return INNER(st)->ops->subject_by_uuid(INNER(st), uuid, out);
}

static int dc_subject_put(struct store *st, const struct subject *s, bool create)
{
	return INNER(st)->ops->subject_put(INNER(st), s, create);
}

static int dc_subject_delete(struct store *st, const char *ns)
{
	return INNER(st)->ops->subject_delete(INNER(st), ns);
}

static int dc_subject_list(struct store *st, json_t **out)
{
	return INNER(st)->ops->subject_list(INNER(st), out);
}

static int dc_node_subnet_list(struct store *st, json_t **out)
{
	return INNER(st)->ops->node_subnet_list(INNER(st), out);
}

static int dc_node_subnet_add(struct store *st, const char *node, const char *subnet)
{
	return INNER(st)->ops->node_subnet_add(INNER(st), node, subnet);
}

static int dc_activation_put(struct store *st, const struct activation_batch *batch)
{
	return INNER(st)->ops->activation_put(INNER(st), batch);
}

static int dc_activation_get(struct store *st, const char *ns, const char *id, json_t **out)
{
	return INNER(st)->ops->activation_get(INNER(st), ns, id, out);
}

static int dc_activation_list(struct store *st, const struct activation_query *q, json_t **out)
{
	return INNER(st)->ops->activation_list(INNER(st), q, out);
}

static int dc_activation_count(struct store *st, const struct activation_query *q, int64_t *out)
{
	return INNER(st)->ops->activation_count(INNER(st), q, out);
}

static int dc_activation_expire(struct store *st, const char *ns, int64_t before,
				const char *const *skip, size_t nskip, unsigned max,
				int64_t *deleted)
{
	return INNER(st)->ops->activation_expire(INNER(st), ns, before, skip, nskip, max, deleted);
}

static int dc_changes_fd(struct store *st)
{
	return INNER(st)->ops->changes_fd(INNER(st));
}

static int dc_changes_read(struct store *st, store_change_cb cb, void *data)
{
	return INNER(st)->ops->changes_read(INNER(st), cb, data);
}

static const struct store_ops doc_cache_ops = {
	.close = dc_close,
	.begin = dc_begin,
	.commit = dc_commit,
	.rollback = dc_rollback,
	.entity_get = dc_entity_get,
	.entity_put = dc_entity_put,
	.entity_delete = dc_entity_delete,
	.entity_rev = dc_entity_rev,
	.entity_put_elsewhere = dc_entity_put_elsewhere,
	.entity_list = dc_entity_list,
	.entity_count = dc_entity_count,
	.subject_get = dc_subject_get,
	.subject_by_uuid = dc_subject_by_uuid,
	.subject_put = dc_subject_put,
	.subject_delete = dc_subject_delete,
	.subject_list = dc_subject_list,
	.node_subnet_list = dc_node_subnet_list,
	.node_subnet_add = dc_node_subnet_add,
	.activation_put = dc_activation_put,
	.activation_get = dc_activation_get,
	.activation_list = dc_activation_list,
	.activation_count = dc_activation_count,
	.activation_expire = dc_activation_expire,
	.changes_fd = dc_changes_fd,
	.changes_read = dc_changes_read,
};

struct store *store_with_doc_cache(struct store *inner)
{
	struct doc_cache *c;

	/* Without a cheap revision check nothing kept could be trusted. */
	if (!inner->ops->entity_rev)
		return inner;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->ops = doc_cache_ops;
	if (!inner->ops->changes_fd || !inner->ops->changes_read) {
		c->ops.changes_fd = NULL;
		c->ops.changes_read = NULL;
	}
	c->base.ops = &c->ops;
	c->inner = inner;
	return &c->base;
}
