// SPDX-License-Identifier: Apache-2.0
/*
 * The embedded store: SQLite in WAL mode with synchronous=FULL, so a record is on disk
 * before the API acknowledges it. The schema is versioned with PRAGMA user_version and
 * migrated forward one step at a time.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "store.h"

struct sqlite_store {
	struct store base;
	sqlite3 *db;
	int txn_depth;
};

static const char *const migrations[] = {
	/* 1: entities, subjects, activations */
	"CREATE TABLE entities ("
	"  docid TEXT PRIMARY KEY,"
	"  root TEXT NOT NULL,"
	"  path TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  type INTEGER NOT NULL,"
	"  rev INTEGER NOT NULL,"
	"  updated INTEGER NOT NULL,"
	"  publish INTEGER NOT NULL DEFAULT 0,"
	"  binding INTEGER NOT NULL DEFAULT 0,"
	"  summary TEXT NOT NULL,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX entities_by_path ON entities(path, type, updated DESC);"
	"CREATE INDEX entities_by_root ON entities(root, type, updated DESC);"
	"CREATE TABLE subjects ("
	"  namespace TEXT PRIMARY KEY,"
	"  uuid TEXT NOT NULL UNIQUE,"
	"  salt BLOB NOT NULL,"
	"  key_hash BLOB NOT NULL,"
	"  limits TEXT NOT NULL DEFAULT '{}',"
	"  created INTEGER NOT NULL);"
	"CREATE TABLE activations ("
	"  activation_id TEXT PRIMARY KEY,"
	"  namespace TEXT NOT NULL,"
	"  filter_name TEXT NOT NULL,"
	"  start INTEGER NOT NULL,"
	"  summary TEXT NOT NULL,"
	"  doc TEXT NOT NULL);"
	"CREATE INDEX activations_by_ns ON activations(namespace, start DESC);"
	"CREATE INDEX activations_by_name ON activations(namespace, filter_name, start DESC);",
	/* 2: retention deletes the oldest records of every namespace at once */
	"CREATE INDEX activations_by_start ON activations(start);",
	/* 3: the sandbox subnet given to each node */
	"CREATE TABLE node_subnets (node TEXT PRIMARY KEY, subnet TEXT NOT NULL UNIQUE);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static struct sqlite_store *to_sqlite(struct store *st)
{
	return (struct sqlite_store *)st;
}

static int sql_err(struct sqlite_store *s, int rc, const char *what)
{
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return -EBUSY;
	if (rc == SQLITE_FULL)
		return -ENOSPC;
	pr_debug("store: %s: %s", what, sqlite3_errmsg(s->db));
	return -EIO;
}

static int exec_sql(struct sqlite_store *s, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		pr_err("store: %s: %s", sql, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return sql_err(s, rc, sql);
	}
	return 0;
}

/* Statements are compiled once and kept; sqlite3_prepare_v3 with PERSISTENT. */
enum stmt_id {
	ST_ENTITY_GET,
	ST_ENTITY_REV,
	ST_ENTITY_INSERT,
	ST_ENTITY_UPDATE,
	ST_ENTITY_DELETE,
	ST_ENTITY_DELETE_ANY,
	ST_SUBJECT_GET,
	ST_SUBJECT_BY_UUID,
	ST_SUBJECT_INSERT,
	ST_SUBJECT_UPDATE,
	ST_SUBJECT_DELETE,
	ST_SUBJECT_LIST,
	ST_NODE_SUBNET_LIST,
	ST_NODE_SUBNET_ADD,
	ST_ACTIVATION_INSERT,
	ST_ACTIVATION_GET,
	_ST_MAX,
};

static const char *const stmt_sql[_ST_MAX] = {
	/* No summary: it is written with the document and read only by listings. */
	[ST_ENTITY_GET] = "SELECT docid, root, path, name, type, rev, updated, publish, binding, "
			  "doc FROM entities WHERE docid = ?1",
	/* The row's head only: the document's overflow pages are not read. */
	[ST_ENTITY_REV] = "SELECT rev, updated FROM entities WHERE docid = ?1",
	[ST_ENTITY_INSERT] = "INSERT INTO entities (docid, root, path, name, type, rev, updated, "
			     "publish, binding, summary, doc) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
	[ST_ENTITY_UPDATE] = "UPDATE entities SET root=?2, path=?3, name=?4, type=?5, rev=?6, "
			     "updated=?7, publish=?8, binding=?9, summary=?10, doc=?11 "
			     "WHERE docid = ?1 AND rev = ?12",
	[ST_ENTITY_DELETE] = "DELETE FROM entities WHERE docid = ?1 AND rev = ?2",
	[ST_ENTITY_DELETE_ANY] = "DELETE FROM entities WHERE docid = ?1",
	[ST_SUBJECT_GET] = "SELECT namespace, uuid, salt, key_hash, limits, created FROM subjects "
			   "WHERE namespace = ?1",
	[ST_SUBJECT_BY_UUID] = "SELECT namespace, uuid, salt, key_hash, limits, created FROM "
			       "subjects WHERE uuid = ?1",
	[ST_SUBJECT_INSERT] = "INSERT INTO subjects (namespace, uuid, salt, key_hash, limits, "
			      "created) VALUES (?1,?2,?3,?4,?5,?6)",
	[ST_SUBJECT_UPDATE] = "UPDATE subjects SET uuid=?2, salt=?3, key_hash=?4, limits=?5 "
			      "WHERE namespace = ?1",
	[ST_SUBJECT_DELETE] = "DELETE FROM subjects WHERE namespace = ?1",
	[ST_SUBJECT_LIST] = "SELECT namespace, uuid, limits, created FROM subjects ORDER BY namespace",
	[ST_NODE_SUBNET_LIST] = "SELECT node, subnet FROM node_subnets",
	[ST_NODE_SUBNET_ADD] = "INSERT INTO node_subnets (node, subnet) VALUES (?1, ?2)",
	[ST_ACTIVATION_INSERT] = "INSERT OR IGNORE INTO activations (activation_id, namespace, "
				 "filter_name, start, summary, doc) VALUES (?1,?2,?3,?4,?5,?6)",
	[ST_ACTIVATION_GET] = "SELECT doc FROM activations WHERE namespace = ?1 AND "
			      "activation_id = ?2",
};

struct sqlite_store_stmts {
	sqlite3_stmt *st[_ST_MAX];
};

/* One set of statements per store: kept beside it. */
struct sqlite_store_full {
	struct sqlite_store s;
	struct sqlite_store_stmts stmts;
};

static sqlite3_stmt *stmt(struct sqlite_store *s, enum stmt_id id)
{
	struct sqlite_store_full *f = (struct sqlite_store_full *)s;
	sqlite3_stmt *st = f->stmts.st[id];

	if (!st && sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
				      NULL) != SQLITE_OK) {
		pr_err("store: prepare %s: %s", stmt_sql[id], sqlite3_errmsg(s->db));
		return NULL;
	}
	f->stmts.st[id] = st;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static int bind_json(sqlite3_stmt *st, int idx, const json_t *j)
{
	char *text = json_dump(j);

	if (!text)
		return SQLITE_NOMEM;
	return sqlite3_bind_text(st, idx, text, -1, free);
}

/* Read back as the API parsed it (json_parse: "\u0000" in strings allowed), so that
 * nothing the API accepted is unreadable afterwards. */
static json_t *column_json(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	return text ? json_parse(text, (size_t)sqlite3_column_bytes(st, col), NULL, 0) : NULL;
}

static char *column_dup(sqlite3_stmt *st, int col)
{
	const char *text = (const char *)sqlite3_column_text(st, col);

	return strdup(text ? text : "");
}

static void sqlite_close(struct store *st)
{
	struct sqlite_store_full *f = (struct sqlite_store_full *)st;

	for (int i = 0; i < _ST_MAX; i++)
		sqlite3_finalize(f->stmts.st[i]);
	sqlite3_close(f->s.db);
	free(f);
}

static int sqlite_begin(struct store *st)
{
	struct sqlite_store *s = to_sqlite(st);
	int err;

	if (s->txn_depth++)
		return 0;
	err = exec_sql(s, "BEGIN IMMEDIATE");
	/* Not begun (another writer kept the lock past the busy timeout): nothing to end. */
	if (err)
		s->txn_depth = 0;
	return err;
}

static int sqlite_commit(struct store *st)
{
	struct sqlite_store *s = to_sqlite(st);
	int err;

	if (--s->txn_depth)
		return 0;
	err = exec_sql(s, "COMMIT");
	if (err)
		(void)exec_sql(s, "ROLLBACK");
	return err;
}

static void sqlite_rollback(struct store *st)
{
	struct sqlite_store *s = to_sqlite(st);

	if (s->txn_depth && !--s->txn_depth)
		(void)exec_sql(s, "ROLLBACK");
}

static int read_entity(sqlite3_stmt *st, struct entity_rec *out)
{
	struct entity_rec rec = { 0 };

	rec.docid = column_dup(st, 0);
	rec.root = column_dup(st, 1);
	rec.path = column_dup(st, 2);
	rec.name = column_dup(st, 3);
	rec.type = (enum entity_type)sqlite3_column_int(st, 4);
	rec.rev = sqlite3_column_int64(st, 5);
	rec.updated = sqlite3_column_int64(st, 6);
	rec.publish = sqlite3_column_int(st, 7) != 0;
	rec.binding = sqlite3_column_int(st, 8) != 0;
	rec.doc = column_json(st, 9);
	if (!rec.docid || !rec.root || !rec.path || !rec.name || !rec.doc) {
		entity_rec_clear(&rec);
		return -EIO;
	}
	*out = rec;
	return 0;
}

static int sqlite_entity_get(struct store *stp, const char *docid, struct entity_rec *out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, ST_ENTITY_GET);
	int rc, err;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, docid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		err = -ENOENT;
	else if (rc == SQLITE_ROW)
		err = read_entity(st, out);
	else
		err = sql_err(s, rc, "entity get");
	sqlite3_reset(st);
	return err;
}

static int sqlite_entity_rev(struct store *stp, const char *docid, int64_t *rev,
			     int64_t *updated)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, ST_ENTITY_REV);
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, docid, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		err = -ENOENT;
	else if (rc == SQLITE_ROW) {
		*rev = sqlite3_column_int64(st, 0);
		*updated = sqlite3_column_int64(st, 1);
	} else {
		err = sql_err(s, rc, "entity rev");
	}
	sqlite3_reset(st);
	return err;
}

static int sqlite_entity_put(struct store *stp, struct entity_rec *rec, int64_t expect_rev)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, expect_rev ? ST_ENTITY_UPDATE : ST_ENTITY_INSERT);
	int64_t rev = expect_rev + 1;
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, rec->docid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, rec->root, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, rec->path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, rec->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)rec->type);
	sqlite3_bind_int64(st, 6, rev);
	sqlite3_bind_int64(st, 7, rec->updated);
	sqlite3_bind_int(st, 8, rec->publish);
	sqlite3_bind_int(st, 9, rec->binding);
	if (bind_json(st, 10, rec->summary) != SQLITE_OK ||
	    (rec->doc_text ? sqlite3_bind_text(st, 11, rec->doc_text, -1, SQLITE_TRANSIENT)
			   : bind_json(st, 11, rec->doc)) != SQLITE_OK) {
		err = -ENOMEM;
		goto out;
	}
	if (expect_rev)
		sqlite3_bind_int64(st, 12, expect_rev);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		err = sql_err(s, rc, "entity put");
		goto out;
	}
	if (expect_rev && sqlite3_changes(s->db) == 0) {
		err = -ESTALE;
		goto out;
	}
	rec->rev = rev;
out:
	sqlite3_reset(st);
	return err;
}

static int sqlite_entity_delete(struct store *stp, const char *docid, int64_t expect_rev)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, expect_rev ? ST_ENTITY_DELETE : ST_ENTITY_DELETE_ANY);
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, docid, -1, SQLITE_STATIC);
	if (expect_rev)
		sqlite3_bind_int64(st, 2, expect_rev);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sql_err(s, rc, "entity delete");
	else if (!sqlite3_changes(s->db))
		err = expect_rev ? -ESTALE : -ENOENT;
	sqlite3_reset(st);
	return err;
}

/* Steps st to its end: each row's first column, a JSON text, goes into a new array. */
static int rows_json_array(struct sqlite_store *s, sqlite3_stmt *st, const char *what,
			   json_t **out)
{
	json_t *arr = json_array();
	int rc, err = 0;

	if (!arr)
		return -ENOMEM;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *j = column_json(st, 0);

		if (!j || json_array_append_new(arr, j)) {
			err = -EIO;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		err = sql_err(s, rc, what);
		goto out;
	}
	*out = arr;
	arr = NULL;
out:
	json_decref(arr);
	return err;
}

/* The one row of a SELECT count(*). */
static int row_count(struct sqlite_store *s, sqlite3_stmt *st, const char *what, int64_t *out)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_ROW)
		return sql_err(s, rc, what);
	*out = sqlite3_column_int64(st, 0);
	return 0;
}

/* SELECT select FROM the entities q asks for, newest first and paged unless it counts. */
static int entity_query_prepare(struct sqlite_store *s, const struct entity_query *q,
				const char *select, sqlite3_stmt **out)
{
	bool count = !strncmp(select, "count", 5);
	const char *where;
	char sql[512];

	if (q->root)
		where = q->public_only ? "root = ?1 AND type = ?2 AND publish = 1 AND binding = 0"
				       : "root = ?1 AND type = ?2";
	else
		where = q->public_only ? "path = ?1 AND type = ?2 AND publish = 1 AND binding = 0"
				       : "path = ?1 AND type = ?2";
	snprintf(sql, sizeof(sql), "SELECT %s FROM entities WHERE %s%s", select, where,
		 count ? "" : " ORDER BY updated DESC, docid LIMIT ?3 OFFSET ?4");
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(*out, 1, q->root ? q->root : q->path, -1, SQLITE_STATIC);
	sqlite3_bind_int(*out, 2, (int)q->type);
	if (!count) {
		sqlite3_bind_int64(*out, 3, q->limit ? (int64_t)q->limit : -1);
		sqlite3_bind_int64(*out, 4, q->skip);
	}
	return 0;
}

static int sqlite_entity_list(struct store *stp, const struct entity_query *q, json_t **out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = NULL;
	int err;

	err = entity_query_prepare(s, q, "summary", &st);
	if (!err)
		err = rows_json_array(s, st, "entity list", out);
	sqlite3_finalize(st);
	return err;
}

static int sqlite_entity_count(struct store *stp, const struct entity_query *q, int64_t *out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = NULL;
	int err;

	err = entity_query_prepare(s, q, "count(*)", &st);
	if (!err)
		err = row_count(s, st, "entity count", out);
	sqlite3_finalize(st);
	return err;
}

static int read_subject(sqlite3_stmt *st, struct subject *out)
{
	struct subject sub = { 0 };
	const void *salt = sqlite3_column_blob(st, 2), *hash = sqlite3_column_blob(st, 3);

	snprintf(sub.namespace, sizeof(sub.namespace), "%s", sqlite3_column_text(st, 0));
	snprintf(sub.uuid, sizeof(sub.uuid), "%s", sqlite3_column_text(st, 1));
	if (!salt || sqlite3_column_bytes(st, 2) != sizeof(sub.salt) || !hash ||
	    sqlite3_column_bytes(st, 3) != sizeof(sub.key_hash))
		return -EIO;
	memcpy(sub.salt, salt, sizeof(sub.salt));
	memcpy(sub.key_hash, hash, sizeof(sub.key_hash));
	sub.limits = column_json(st, 4);
	if (!json_is_object(sub.limits)) {
		json_decref(sub.limits);
		sub.limits = json_object();
	}
	sub.created = sqlite3_column_int64(st, 5);
	*out = sub;
	return 0;
}

static int subject_lookup(struct sqlite_store *s, enum stmt_id id, const char *key,
			  struct subject *out)
{
	sqlite3_stmt *st = stmt(s, id);
	int rc, err;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		err = -ENOENT;
	else if (rc == SQLITE_ROW)
		err = read_subject(st, out);
	else
		err = sql_err(s, rc, "subject get");
	sqlite3_reset(st);
	return err;
}

static int sqlite_subject_get(struct store *stp, const char *namespace, struct subject *out)
{
	return subject_lookup(to_sqlite(stp), ST_SUBJECT_GET, namespace, out);
}

static int sqlite_subject_by_uuid(struct store *stp, const char *uuid, struct subject *out)
{
	return subject_lookup(to_sqlite(stp), ST_SUBJECT_BY_UUID, uuid, out);
}

static int sqlite_subject_put(struct store *stp, const struct subject *sub, bool create)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, create ? ST_SUBJECT_INSERT : ST_SUBJECT_UPDATE);
	json_t *limits;
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, sub->namespace, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sub->uuid, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, sub->salt, sizeof(sub->salt), SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, sub->key_hash, sizeof(sub->key_hash), SQLITE_STATIC);
	limits = json_ref_or_object(sub->limits);
	rc = bind_json(st, 5, limits);
	json_decref(limits);
	if (rc != SQLITE_OK) {
		err = -ENOMEM;
		goto out;
	}
	if (create)
		sqlite3_bind_int64(st, 6, sub->created);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sql_err(s, rc, "subject put");
	else if (!create && !sqlite3_changes(s->db))
		err = -ENOENT;
out:
	sqlite3_reset(st);
	return err;
}

static int sqlite_subject_delete(struct store *stp, const char *namespace)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, ST_SUBJECT_DELETE);
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, namespace, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sql_err(s, rc, "subject delete");
	else if (!sqlite3_changes(s->db))
		err = -ENOENT;
	sqlite3_reset(st);
	return err;
}

static int sqlite_subject_list(struct store *stp, json_t **out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, ST_SUBJECT_LIST);
	json_t *arr = json_array();
	int rc, err = 0;

	if (!st || !arr) {
		json_decref(arr);
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *limits = column_json(st, 2);

		json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:I}", "namespace",
						     sqlite3_column_text(st, 0), "uuid",
						     sqlite3_column_text(st, 1), "limits",
						     limits ? limits : json_object(), "created",
						     (json_int_t)sqlite3_column_int64(st, 3)));
	}
	if (rc != SQLITE_DONE) {
		err = sql_err(s, rc, "subject list");
		json_decref(arr);
	} else {
		*out = arr;
	}
	sqlite3_reset(st);
	return err;
}

static int sqlite_node_subnet_list(struct store *stp, json_t **out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, ST_NODE_SUBNET_LIST);
	json_t *obj = json_object();
	int rc, err = 0;

	if (!st || !obj) {
		json_decref(obj);
		return -EIO;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(obj, (const char *)sqlite3_column_text(st, 0),
				    json_string((const char *)sqlite3_column_text(st, 1)));
	if (rc != SQLITE_DONE) {
		err = sql_err(s, rc, "node subnet list");
		json_decref(obj);
	} else {
		*out = obj;
	}
	sqlite3_reset(st);
	return err;
}

static int sqlite_node_subnet_add(struct store *stp, const char *node, const char *subnet)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, ST_NODE_SUBNET_ADD);
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, node, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, subnet, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		err = sql_err(s, rc, "node subnet add");
	sqlite3_reset(st);
	return err;
}

/* One transaction and one prepared statement for the batch; every text is bound as the
 * batch holds it (the document as it came), without a copy. */
static int sqlite_activation_put(struct store *stp, const struct activation_batch *b)
{
	struct sqlite_store *s = to_sqlite(stp);
	int err = sqlite_begin(stp);

	if (err)
		return err;
	for (size_t i = 0; i < b->n && !err; i++) {
		sqlite3_stmt *st = stmt(s, ST_ACTIVATION_INSERT);
		const struct activation_row *row = &b->rows[i];
		int rc;

		if (!st) {
			err = -EIO;
			break;
		}
		sqlite3_bind_text(st, 1, activation_row_text(b, row->id_at), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, activation_row_text(b, row->namespace_at), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, activation_row_text(b, row->filter_at), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, row->start);
		sqlite3_bind_text(st, 5, activation_row_text(b, row->summary_at), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text64(st, 6, activation_row_doc(b, row), row->doc_len, SQLITE_STATIC,
				    SQLITE_UTF8);
		if ((rc = sqlite3_step(st)) != SQLITE_DONE)
			err = sql_err(s, rc, "activation put");
		sqlite3_reset(st);
	}
	if (err) {
		sqlite_rollback(stp);
		return err;
	}
	return sqlite_commit(stp);
}

static int sqlite_activation_get(struct store *stp, const char *namespace, const char *id,
				 json_t **out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = stmt(s, ST_ACTIVATION_GET);
	int rc, err = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, namespace, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		err = -ENOENT;
	else if (rc != SQLITE_ROW)
		err = sql_err(s, rc, "activation get");
	else if (!(*out = column_json(st, 0)))
		err = -EIO;
	sqlite3_reset(st);
	return err;
}

static int activation_query_prepare(struct sqlite_store *s, const struct activation_query *q,
				    const char *select, sqlite3_stmt **out)
{
	char sql[512];
	int n;

	n = snprintf(sql, sizeof(sql), "SELECT %s FROM activations WHERE namespace = ?1%s%s%s",
		     select, q->name ? " AND filter_name = ?2" : "",
		     q->since ? " AND start >= ?3" : "", q->upto ? " AND start <= ?4" : "");
	if (strncmp(select, "count", 5))
		snprintf(sql + n, sizeof(sql) - (size_t)n,
			 " ORDER BY start DESC, activation_id LIMIT ?5 OFFSET ?6");
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(*out, 1, q->namespace, -1, SQLITE_STATIC);
	if (q->name)
		sqlite3_bind_text(*out, 2, q->name, -1, SQLITE_STATIC);
	if (q->since)
		sqlite3_bind_int64(*out, 3, q->since);
	if (q->upto)
		sqlite3_bind_int64(*out, 4, q->upto);
	if (strncmp(select, "count", 5)) {
		sqlite3_bind_int64(*out, 5, q->limit ? (int64_t)q->limit : -1);
		sqlite3_bind_int64(*out, 6, q->skip);
	}
	return 0;
}

static int sqlite_activation_list(struct store *stp, const struct activation_query *q,
				  json_t **out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = NULL;
	int err;

	err = activation_query_prepare(s, q, q->docs ? "doc" : "summary", &st);
	if (!err)
		err = rows_json_array(s, st, "activation list", out);
	sqlite3_finalize(st);
	return err;
}

static int sqlite_activation_count(struct store *stp, const struct activation_query *q,
				   int64_t *out)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = NULL;
	int err;

	err = activation_query_prepare(s, q, "count(*)", &st);
	if (!err)
		err = row_count(s, st, "activation count", out);
	sqlite3_finalize(st);
	return err;
}

static int sqlite_activation_expire(struct store *stp, const char *namespace, int64_t before,
				    const char *const *skip, size_t nskip, unsigned max,
				    int64_t *deleted)
{
	struct sqlite_store *s = to_sqlite(stp);
	sqlite3_stmt *st = NULL;
	char *sql = NULL;
	size_t len;
	FILE *f;
	int rc, err = 0;

	/* The statement depends on how many namespaces keep their own period. */
	f = open_memstream(&sql, &len);
	if (!f)
		return -ENOMEM;
	fputs("DELETE FROM activations WHERE activation_id IN (SELECT activation_id FROM "
	      "activations WHERE start < ?1",
	      f);
	if (namespace) {
		fputs(" AND namespace = ?3", f);
	} else if (nskip) {
		fputs(" AND namespace NOT IN (", f);
		for (size_t i = 0; i < nskip; i++)
			fprintf(f, "%s?%zu", i ? "," : "", i + 3);
		fputs(")", f);
	}
	fputs(" LIMIT ?2)", f);
	if (fclose(f) || !sql) {
		free(sql);
		return -ENOMEM;
	}
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		err = sql_err(s, SQLITE_ERROR, "activation expire");
		goto out;
	}
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, max);
	if (namespace)
		sqlite3_bind_text(st, 3, namespace, -1, SQLITE_STATIC);
	else
		for (size_t i = 0; i < nskip; i++)
			sqlite3_bind_text(st, (int)i + 3, skip[i], -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		err = sql_err(s, rc, "activation expire");
		goto out;
	}
	*deleted = sqlite3_changes(s->db);
out:
	sqlite3_finalize(st);
	free(sql);
	return err;
}

static const struct store_ops sqlite_ops = {
	.close = sqlite_close,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.entity_get = sqlite_entity_get,
	.entity_rev = sqlite_entity_rev,
	.entity_put = sqlite_entity_put,
	.entity_delete = sqlite_entity_delete,
	.entity_list = sqlite_entity_list,
	.entity_count = sqlite_entity_count,
	.subject_get = sqlite_subject_get,
	.subject_by_uuid = sqlite_subject_by_uuid,
	.subject_put = sqlite_subject_put,
	.subject_delete = sqlite_subject_delete,
	.subject_list = sqlite_subject_list,
	.node_subnet_list = sqlite_node_subnet_list,
	.node_subnet_add = sqlite_node_subnet_add,
	.activation_put = sqlite_activation_put,
	.activation_get = sqlite_activation_get,
	.activation_list = sqlite_activation_list,
	.activation_count = sqlite_activation_count,
	.activation_expire = sqlite_activation_expire,
};

static int migrate(struct sqlite_store *s)
{
	sqlite3_stmt *st = NULL;
	int version = 0, err = 0;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -EIO;
	if (sqlite3_step(st) == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION) {
		pr_err("store: schema version %d is newer than this program's %d", version,
		       SCHEMA_VERSION);
		return -EPROTO;
	}
	for (; version < SCHEMA_VERSION && !err; version++) {
		char pragma[64];

		err = sqlite_begin(&s->base);
		if (err)
			break;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version + 1);
		err = exec_sql(s, migrations[version]);
		if (!err)
			err = exec_sql(s, pragma);
		if (err) {
			sqlite_rollback(&s->base);
			break;
		}
		err = sqlite_commit(&s->base);
		if (!err)
			pr_info("store: schema migrated to version %d", version + 1);
	}
	return err;
}

int store_sqlite_open(const char *path, struct store **out)
{
	struct sqlite_store_full *f = calloc(1, sizeof(*f));
	struct sqlite_store *s;
	int err;

	if (!f)
		return -ENOMEM;
	s = &f->s;
	s->base.ops = &sqlite_ops;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		pr_err("store: open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "out of memory");
		err = -EIO;
		goto out;
	}
	sqlite3_busy_timeout(s->db, 5000);
	err = exec_sql(s, "PRAGMA journal_mode = WAL");
	if (!err)
		err = exec_sql(s, "PRAGMA synchronous = FULL");
	if (!err)
		err = exec_sql(s, "PRAGMA foreign_keys = ON");
	if (!err)
		err = migrate(s);
	if (err)
		goto out;
	*out = &s->base;
	return 0;
out:
	sqlite_close(&s->base);
	return err;
}
