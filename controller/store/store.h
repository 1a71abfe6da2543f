/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store: entities (actions, packages, triggers, rules) as JSON documents keyed by
 * their fully qualified id, subjects (namespaces and their hashed keys) and activation
 * records. API code talks to this interface only; backends implement struct store_ops.
 */
#ifndef XWHISK_STORE_H
#define XWHISK_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

enum entity_type {
	ENTITY_ACTION,
	ENTITY_PACKAGE,
	ENTITY_TRIGGER,
	ENTITY_RULE,
	_ENTITY_TYPE_MAX,
};

const char *entity_type_collection(enum entity_type type); /* "actions", ... */

struct entity_rec {
	char *docid;     /* "ns/name" or "ns/pkg/name": unique across all types */
	char *path;      /* the entity's namespace path: "ns" or "ns/pkg" */
	char *root;      /* the owning namespace: "ns" */
	char *name;
	enum entity_type type;
	int64_t rev;     /* bumped on every write; a write names the rev it read */
	int64_t updated; /* epoch ms */
	bool publish;
	bool binding;
	json_t *doc;     /* the full document */
	json_t *summary; /* what a list shows: set for a put, not filled by a get */
	char *doc_text;  /* a put: doc already dumped (json_dump), stored as is; or NULL */
};

void entity_rec_clear(struct entity_rec *rec);

struct entity_query {
	enum entity_type type;
	const char *path;    /* exact namespace path, or */
	const char *root;    /* every entity of the namespace, packaged ones included */
	bool public_only;    /* published, non-binding (packages of other namespaces) */
	unsigned skip, limit;
};

struct subject {
	char namespace[257];
	char uuid[64];
	unsigned char salt[16];
	unsigned char key_hash[32];
	json_t *limits; /* overrides, {} when none */
	int64_t created;
};

void subject_clear(struct subject *s);

struct activation_query {
	const char *namespace;
	const char *name; /* "action" or "pkg/action", or NULL */
	int64_t since, upto; /* inclusive bounds on start; 0 = none */
	unsigned skip, limit;
	bool docs;
};

/*
 * Activation records on their way into the store: for each, what the store keeps of it
 * (its row), made once from the record's tree by activation_batch_add, so that the tree
 * can go at once. The texts (id, namespace, the name lists filter on, the summary a list
 * shows, the document when it came without its own text) are NUL-terminated in one
 * buffer for the batch, at offsets since the buffer grows as records are added: no
 * allocation per record.
 */
struct activation_row {
	size_t id_at, namespace_at, filter_at, summary_at, doc_at;
	json_int_t start;
	const char *doc; /* the record's own text, NUL-terminated, stored as it is; or NULL:
			  * the tree dumped, at doc_at */
	size_t doc_len;
};

struct activation_batch {
	struct activation_row *rows;
	size_t n, cap;
	struct buf text;
};

/* The part of a record's text (len bytes, NUL-terminated) that activation_check and
 * activation_batch_add read, as a small tree: the text validated as json_parse would, its
 * members parsed each from its own text, the response's statusCode alone, the logs an
 * empty array when they are one; the result and the log lines are never built (they were
 * most of a record's ingest). NULL when the text is not JSON, not an object, or a key
 * holds an escape: json_parse it whole then (which also says why it is not). */
json_t *activation_skeleton(const char *text, size_t len);
/* A record's text (len bytes, NUL-terminated, kept: it must outlive the batch) judged by
 * activation_check on its skeleton and added, found by one scan of the text: 0 (added, or
 * refused with *why set), -ENOMEM, or -EINVAL when it has no skeleton (parse it whole). */
int activation_batch_add_text(struct activation_batch *b, const char *text, size_t len,
			      const char **why);
/* Adds a record accepted by activation_check: doc its tree, which the batch does not
 * keep; text (len bytes, NUL-terminated; kept, not copied: it must outlive the batch) the
 * JSON it arrived as, or NULL. -ENOMEM. */
int activation_batch_add(struct activation_batch *b, json_t *doc, const char *text, size_t len);
void activation_batch_free(struct activation_batch *b);

static inline const char *activation_row_text(const struct activation_batch *b, size_t at)
{
	return b->text.data + at;
}

static inline const char *activation_row_doc(const struct activation_batch *b,
					     const struct activation_row *row)
{
	return row->doc ? row->doc : b->text.data + row->doc_at;
}

/* A change another controller made to a shared store (PostgreSQL). */
struct store_change {
	const char *op;    /* "put" or "delete" */
	const char *docid;
	int type;          /* enum entity_type; -1 for a delete */
};

typedef void (*store_change_cb)(const struct store_change *change, void *data);

struct store;

struct store_ops {
	void (*close)(struct store *st);
	int (*begin)(struct store *st);
	int (*commit)(struct store *st);
	void (*rollback)(struct store *st);

	int (*entity_get)(struct store *st, const char *docid, struct entity_rec *out);
	/* expect_rev 0 = create (-EEXIST if present); otherwise -ESTALE on a changed rev. */
	int (*entity_put)(struct store *st, struct entity_rec *rec, int64_t expect_rev);
	int (*entity_delete)(struct store *st, const char *docid, int64_t expect_rev);
	/* Optional: docid's revision and its write's time (updated) without reading its
	 * document (0, -ENOENT). The pair tells a document apart from one deleted and made
	 * again (whose revision starts again at 1). */
	int (*entity_rev)(struct store *st, const char *docid, int64_t *rev, int64_t *updated);
	/* Optional: rec was written to this store through another connection (the offload
	 * thread's), rec->rev its new revision: a decorator does what a put through it would
	 * (publish its event, cache its document) and passes it on. The caller changes
	 * rec->doc no more (it may be kept as it is). */
	void (*entity_put_elsewhere)(struct store *st, const struct entity_rec *rec);
	int (*entity_list)(struct store *st, const struct entity_query *q, json_t **out);
	int (*entity_count)(struct store *st, const struct entity_query *q, int64_t *out);

	int (*subject_get)(struct store *st, const char *namespace, struct subject *out);
	int (*subject_by_uuid)(struct store *st, const char *uuid, struct subject *out);
	int (*subject_put)(struct store *st, const struct subject *s, bool create);
	int (*subject_delete)(struct store *st, const char *namespace);
	int (*subject_list)(struct store *st, json_t **out);

	/* The sandbox subnet each node was given (controller/control/subnets.h), kept so a
	 * node keeps its block across re-registrations and controller restarts: *out is
	 * {"node": "cidr"}; an add answers -EEXIST when the node or the subnet is taken. */
	int (*node_subnet_list)(struct store *st, json_t **out);
	int (*node_subnet_add)(struct store *st, const char *node, const char *subnet);

	/* Idempotent by activationId: a record already stored is left as it is. */
	int (*activation_put)(struct store *st, const struct activation_batch *batch);
	int (*activation_get)(struct store *st, const char *namespace, const char *id, json_t **out);
	int (*activation_list)(struct store *st, const struct activation_query *q, json_t **out);
	int (*activation_count)(struct store *st, const struct activation_query *q, int64_t *out);
	/* Retention: deletes at most max records that started before `before` (epoch ms), of
	 * one namespace, or of every namespace but those in skip[] when namespace is NULL.
	 * Each call is its own short transaction; *deleted says how many went. */
	int (*activation_expire)(struct store *st, const char *namespace, int64_t before,
				 const char *const *skip, size_t nskip, unsigned max,
				 int64_t *deleted);

	/*
	 * Optional (NULL where one controller owns the store): the entity writes other
	 * controllers make. changes_fd is the descriptor to watch, -1 while there is none
	 * (the caller retries changes_read on a timer then, which reconnects); it may change
	 * after a changes_read. changes_read calls cb for each change that arrived.
	 */
	int (*changes_fd)(struct store *st);
	int (*changes_read)(struct store *st, store_change_cb cb, void *data);
};

struct store {
	const struct store_ops *ops;
};

/*
 * uri: "sqlite:<path>" or a plain path; "postgresql://..." / "postgres://..." or a libpq
 * "key=value ..." connection string for PostgreSQL.
 */
int store_open(const char *uri, struct store **out);
int store_sqlite_open(const char *path, struct store **out);
/* Wraps inner (taking ownership): the parsed documents of the last few large entities read
 * or written are kept and handed out again (a copy) while their revision is the
 * store's, so that a large action is not parsed again (seconds for tens of MB) for every
 * GET, resolve or overwrite. A store without entity_rev is returned as it is; NULL: out of
 * memory (inner still the caller's). */
struct store *store_with_doc_cache(struct store *inner);
int store_pg_open(const char *conninfo, struct store **out);
/*
 * Another connection to the store uri names, for another thread (the controller's offload
 * thread writes and reads large documents on one): it follows no change feed. Each
 * connection is used by one thread at a time. SQLite (WAL) lets its readers read while
 * the other writes, but writers wait for each other (its busy timeout). -EINVAL for a
 * temporary or in-memory SQLite database (a second connection would not share it).
 */
int store_open_second(const char *uri, struct store **out);
int store_pg_open_second(const char *conninfo, struct store **out);
/* The URI with its password, if any, replaced by "***": for logs. */
void store_uri_redact(const char *uri, char *buf, size_t len);
/* The URI names a PostgreSQL server rather than a SQLite file. */
bool store_uri_is_pg(const char *uri);

/*
 * Errors beyond the usual -ENOENT, -EEXIST, -ESTALE: -EBUSY (a lock or a serialization
 * conflict; try again) and -ECONNREFUSED (the store's server is unreachable, even after a
 * bounded number of reconnection attempts; try again later). The API answers both with 503.
 */

static inline void store_close(struct store *st)
{
	if (st)
		st->ops->close(st);
}

#endif
