// SPDX-License-Identifier: Apache-2.0
/*
 * The shared store: PostgreSQL through libpq, so several controllers keep one truth.
 *
 * - Writes never raise an error the API expects (a create of an existing entity, a stale
 *   revision): they are INSERT ... ON CONFLICT DO NOTHING and UPDATE ... WHERE rev = $n,
 *   and the row count says who won. PostgreSQL aborts a whole transaction on any error,
 *   so an expected conflict must not be one.
 * - The schema is versioned in xwhisk_schema and migrated at open under an advisory lock:
 *   controllers starting together apply each step once.
 * - A lost connection is re-established without holding the controller's loop: the call
 *   that finds it lost waits a moment for the server (a reachable one answers in
 *   milliseconds), and the reconnection goes on in later calls, which do not wait; until
 *   it succeeds they fail with -ECONNREFUSED (the API's 503), and after a failed attempt
 *   for a hold that doubles. A statement is re-sent after a reconnection only outside a
 *   transaction; a transaction that lost its connection is gone and every call fails until
 *   the caller rolls back.
 * - Text columns that order or key rows use the "C" collation: the same order as SQLite's
 *   byte comparison, whatever the database's locale.
 * - Every entity write records itself in entity_changes and sends a NOTIFY, in its own
 *   statement (delivered at commit, never for a rolled-back write); a second connection
 *   LISTENs, so a controller publishes to its nodes the changes other controllers made
 *   (changes_read), and after that connection was lost it replays entity_changes from
 *   shortly before the last change it heard of.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "loop.h"
#include "pg_conn.h"
#include "store.h"
#include "util.h"

/* Reconnection: the call that starts an attempt waits at most this long for the server;
 * the calls after it only look whether it has answered. An attempt the server has not
 * completed within the timeout failed (libpq's connect_timeout does not apply). */
#define RECONNECT_WAIT_MS 250
#define RECONNECT_TIMEOUT_MS 2000
/* The feed's reconnection is advanced by a timer each second: a shorter wait. */
#define LISTEN_RECONNECT_WAIT_MS 50
/* After a failed attempt, calls fail at once for a hold that doubles with every failed
 * attempt, so a server that stays away costs the loop nothing. */
#define DOWN_HOLD_MIN_MS 1000
#define DOWN_HOLD_MAX_MS 8000
/* Rows per INSERT of an activation batch (6 parameters each, libpq allows 65535): a
 * node's batch (at most 1000) is one statement, one commit. */
#define INSERT_ROWS_MAX 1000
/* Key of the advisory lock that serialises schema migrations ("xwhisk" in ASCII). */
#define MIGRATION_LOCK_KEY "132372276996203"
/* The channel of entity changes; its payload {"op","docid","type","from","at"}. */
#define CHANGES_CHANNEL "xwhisk_entities"
/* After the listener was away, the changes since this long before the last one it heard
 * of are replayed: a write stamped earlier may commit later (its transaction, its lock
 * wait). Replaying more only costs nodes a refetch. */
#define CHANGES_REPLAY_MS 60000
/* entity_changes keeps an hour (before the last change heard of), pruned every ten
 * minutes: a controller whose feed is cut for longer misses what went. */
#define CHANGES_KEEP_MS 3600000
#define CHANGES_PRUNE_EVERY_MS 600000
/* The database's clock in epoch ms: the one clock every controller's stamps share. */
#define SQL_NOW_MS "(extract(epoch from clock_timestamp()) * 1000)::bigint"
/* Records a write's rows (w: docid, type) and announces each at commit. */
#define SQL_RECORD_CHANGE(op, origin)                                                              \
	", c AS (INSERT INTO entity_changes (docid, op, type, origin, at) "                       \
	"SELECT docid, '" op "', type, " origin ", " SQL_NOW_MS " FROM w "                       \
	"RETURNING docid, op, type, origin, at) "                                                 \
	"SELECT pg_notify('" CHANGES_CHANNEL "', json_build_object('op', op, 'docid', docid, "     \
	"'type', type, 'from', origin, 'at', at)::text) FROM c"

struct pg_store {
	struct store base;
	PGconn *conn;
	int txn_depth;
	bool txn_lost;      /* the connection went away inside the open transaction */
	struct pg_reset reset; /* a reconnection under way */
	bool down;          /* the last reconnection attempt failed (logged once) */
	uint64_t down_until; /* monotonic ms: fail at once until then */
	unsigned hold_ms;    /* the next hold after a failed round */
	/* The change feed: a connection that only LISTENs, and who we are on it. */
	PGconn *listen;
	char instance[17];
	int64_t heard_at;      /* the database's stamp of the last change heard of */
	bool listen_lost;      /* the listener went away: replay when it is back */
	struct pg_reset listen_reset;
	uint64_t next_prune;   /* monotonic ms */
	uint64_t listen_retry; /* monotonic ms: no reconnection attempt before */
	unsigned listen_pause; /* the pause before the next attempt: 1 s doubling to 30 s */
};

static const char *const migrations[] = {
	/* 1: entities, subjects, activations (as SQLite's schema 1 and 2) */
	"CREATE TABLE entities ("
	"  docid TEXT COLLATE \"C\" PRIMARY KEY,"
	"  root TEXT COLLATE \"C\" NOT NULL,"
	"  path TEXT COLLATE \"C\" NOT NULL,"
	"  name TEXT COLLATE \"C\" NOT NULL,"
	"  type INTEGER NOT NULL,"
	"  rev BIGINT NOT NULL,"
	"  updated BIGINT NOT NULL,"
	"  publish BOOLEAN NOT NULL DEFAULT false,"
	"  binding BOOLEAN NOT NULL DEFAULT false,"
	"  summary JSON NOT NULL,"
	"  doc JSON NOT NULL);"
	"CREATE INDEX entities_by_path ON entities(path, type, updated DESC);"
	"CREATE INDEX entities_by_root ON entities(root, type, updated DESC);"
	"CREATE TABLE subjects ("
	"  namespace TEXT COLLATE \"C\" PRIMARY KEY,"
	"  uuid TEXT NOT NULL UNIQUE,"
	"  salt BYTEA NOT NULL,"
	"  key_hash BYTEA NOT NULL,"
	"  limits JSON NOT NULL DEFAULT '{}',"
	"  created BIGINT NOT NULL);"
	"CREATE TABLE activations ("
	"  activation_id TEXT COLLATE \"C\" PRIMARY KEY,"
	"  namespace TEXT COLLATE \"C\" NOT NULL,"
	"  filter_name TEXT COLLATE \"C\" NOT NULL,"
	"  start BIGINT NOT NULL,"
	"  summary JSON NOT NULL,"
	"  doc JSON NOT NULL);"
	"CREATE INDEX activations_by_ns ON activations(namespace, start DESC, activation_id);"
	"CREATE INDEX activations_by_name ON activations(namespace, filter_name, start DESC,"
	"  activation_id);"
	/* Retention deletes the oldest records of every namespace at once. */
	"CREATE INDEX activations_by_start ON activations(start);",
	/* 2: every entity write, for controllers that missed its NOTIFY */
	"CREATE TABLE entity_changes ("
	"  seq BIGSERIAL PRIMARY KEY,"
	"  docid TEXT COLLATE \"C\" NOT NULL,"
	"  op TEXT NOT NULL,"
	"  type INTEGER NOT NULL,"
	"  origin TEXT NOT NULL,"
	"  at BIGINT NOT NULL);"
	"CREATE INDEX entity_changes_by_at ON entity_changes(at);",
	/* 3: the sandbox subnet given to each node */
	"CREATE TABLE node_subnets ("
	"  node TEXT COLLATE \"C\" PRIMARY KEY,"
	"  subnet TEXT NOT NULL UNIQUE);",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

static struct pg_store *to_pg(struct store *st)
{
	return (struct pg_store *)st;
}

/* Text parameters: strings borrowed from the caller, numbers formatted here. */
#define PARAMS_MAX 16

struct params {
	int n;
	const char *v[PARAMS_MAX];
	char num[PARAMS_MAX][24];
};

static void p_str(struct params *p, const char *s)
{
	p->v[p->n++] = s;
}

static void p_int(struct params *p, int64_t x)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, x);
	p->v[p->n] = p->num[p->n];
	p->n++;
}

static void p_bool(struct params *p, bool b)
{
	p->v[p->n++] = b ? "t" : "f";
}

/* Server notices ("relation already exists, skipping") are not the operator's business. */
static void notice_quiet(void *arg, const char *message)
{
	pr_debug("store: postgres: %s", message);
}

static int pg_reconnect(struct pg_store *s)
{
	int err;

	if (!s->reset.active && s->down_until && clock_mono_ms() < s->down_until)
		return -ECONNREFUSED;
	err = pg_reset_step(s->conn, &s->reset, s->reset.active ? 0 : RECONNECT_WAIT_MS,
			    RECONNECT_TIMEOUT_MS);
	if (!err) {
		if (s->down)
			pr_warn("store: reconnected to PostgreSQL");
		s->down = false;
		s->down_until = 0;
		s->hold_ms = DOWN_HOLD_MIN_MS;
		return 0;
	}
	if (err == -EINPROGRESS)
		return -ECONNREFUSED;
	if (!s->down)
		pr_warn("store: PostgreSQL unreachable: %s", PQerrorMessage(s->conn));
	s->down = true;
	s->down_until = clock_mono_ms() + s->hold_ms;
	if (s->hold_ms < DOWN_HOLD_MAX_MS)
		s->hold_ms *= 2;
	return -ECONNREFUSED;
}

/* The connection is gone (as opposed to a statement that failed on a live one). */
static bool conn_lost(struct pg_store *s, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(s->conn) != CONNECTION_OK)
		return true;
	/* 08: connection exceptions; 57P01..3: the server shuts down or is starting. */
	return state && (!strncmp(state, "08", 2) || !strncmp(state, "57P0", 4));
}

static int sql_error(struct pg_store *s, const PGresult *res, const char *what)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	if (state) {
		if (!strcmp(state, "23505")) /* unique_violation */
			return -EEXIST;
		/* serialization_failure, deadlock_detected, lock_not_available, query_canceled
		 * (statement_timeout): worth trying again */
		if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
		    !strcmp(state, "57014"))
			return -EBUSY;
		if (!strcmp(state, "53100")) /* disk_full */
			return -ENOSPC;
	}
	pr_debug("store: %s: %s", what, PQresultErrorMessage(res));
	return -EIO;
}

/* Runs one statement; *out (when given) takes the result of a successful one. */
static int pg_exec(struct pg_store *s, const char *sql, int n, const char *const *vals,
		   PGresult **out)
{
	PGresult *res;
	int err;

	if (s->txn_lost)
		return -ECONNREFUSED;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (attempt || PQstatus(s->conn) != CONNECTION_OK) {
			if (s->txn_depth) {
				s->txn_lost = true;
				return -ECONNREFUSED;
			}
			err = pg_reconnect(s);
			if (err)
				return err;
		}
		res = PQexecParams(s->conn, sql, n, NULL, vals, NULL, NULL, 0);
		switch (PQresultStatus(res)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			if (out)
				*out = res;
			else
				PQclear(res);
			return 0;
		default:
			break;
		}
		if (!conn_lost(s, res)) {
			err = sql_error(s, res, sql);
			PQclear(res);
			return err;
		}
		pr_debug("store: connection lost: %s", PQerrorMessage(s->conn));
		PQclear(res);
		if (s->txn_depth) {
			s->txn_lost = true;
			return -ECONNREFUSED;
		}
		/* Re-sent once after a reconnection. A write whose answer was lost with the
		 * connection may then meet itself: a create answers -EEXIST, an update -ESTALE,
		 * an activation insert nothing (idempotent). */
	}
	return -ECONNREFUSED;
}

static int pg_exec_p(struct pg_store *s, const char *sql, const struct params *p, PGresult **out)
{
	return pg_exec(s, sql, p ? p->n : 0, p ? p->v : NULL, out);
}

/* Rows a command changed. */
static int64_t changed(PGresult *res)
{
	return strtoll(PQcmdTuples(res), NULL, 10);
}

static char *value_dup(const PGresult *res, int row, int col)
{
	return strdup(PQgetvalue(res, row, col));
}

static json_t *value_json(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	/* As the API parsed it ("\u0000" allowed): what it accepted must read back. */
	return json_parse(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col), NULL, 0);
}

static int64_t value_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static bool value_bool(const PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

static void pg_close(struct store *st)
{
	struct pg_store *s = to_pg(st);

	if (!s)
		return;
	PQfinish(s->conn);
	PQfinish(s->listen);
	free(s);
}

static int pg_begin(struct store *st)
{
	struct pg_store *s = to_pg(st);
	int err;

	if (s->txn_depth) {
		s->txn_depth++;
		return 0;
	}
	err = pg_exec(s, "BEGIN", 0, NULL, NULL);
	if (!err)
		s->txn_depth = 1;
	return err;
}

static int pg_commit(struct store *st)
{
	struct pg_store *s = to_pg(st);
	PGresult *res = NULL;
	int err;

	if (!s->txn_depth)
		return -EINVAL;
	if (--s->txn_depth)
		return 0;
	if (s->txn_lost) {
		s->txn_lost = false;
		return -ECONNREFUSED;
	}
	/* Still inside while COMMIT is on its way: a connection lost now must fail the call
	 * (the outcome is unknown), not re-send COMMIT on a new connection, where it would
	 * succeed with nothing to commit. */
	s->txn_depth = 1;
	err = pg_exec(s, "COMMIT", 0, NULL, &res);
	s->txn_depth = 0;
	s->txn_lost = false;
	/* A transaction in which a statement failed ends in ROLLBACK, with no error. */
	if (!err && strcmp(PQcmdStatus(res), "COMMIT"))
		err = -EIO;
	PQclear(res);
	return err;
}

static void pg_rollback(struct store *st)
{
	struct pg_store *s = to_pg(st);

	if (!s->txn_depth || --s->txn_depth)
		return;
	if (!s->txn_lost)
		(void)pg_exec(s, "ROLLBACK", 0, NULL, NULL);
	s->txn_lost = false;
}

static int read_entity(const PGresult *res, struct entity_rec *out)
{
	struct entity_rec rec = { 0 };

	rec.docid = value_dup(res, 0, 0);
	rec.root = value_dup(res, 0, 1);
	rec.path = value_dup(res, 0, 2);
	rec.name = value_dup(res, 0, 3);
	rec.type = (enum entity_type)value_int(res, 0, 4);
	rec.rev = value_int(res, 0, 5);
	rec.updated = value_int(res, 0, 6);
	rec.publish = value_bool(res, 0, 7);
	rec.binding = value_bool(res, 0, 8);
	rec.doc = value_json(res, 0, 9);
	if (!rec.docid || !rec.root || !rec.path || !rec.name || !rec.doc) {
		entity_rec_clear(&rec);
		return -EIO;
	}
	*out = rec;
	return 0;
}

static int pg_entity_get(struct store *st, const char *docid, struct entity_rec *out)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	p_str(&p, docid);
	err = pg_exec_p(to_pg(st),
			"SELECT docid, root, path, name, type, rev, updated, publish, binding, doc "
			"FROM entities WHERE docid = $1",
			&p, &res);
	if (err)
		return err;
	err = PQntuples(res) ? read_entity(res, out) : -ENOENT;
	PQclear(res);
	return err;
}

static int pg_entity_rev(struct store *st, const char *docid, int64_t *rev, int64_t *updated)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	p_str(&p, docid);
	/* The document, toasted, is not fetched. */
	err = pg_exec_p(to_pg(st), "SELECT rev, updated FROM entities WHERE docid = $1", &p,
			&res);
	if (err)
		return err;
	if (PQntuples(res)) {
		*rev = value_int(res, 0, 0);
		*updated = value_int(res, 0, 1);
	} else {
		err = -ENOENT;
	}
	PQclear(res);
	return err;
}

static int pg_entity_put(struct store *st, struct entity_rec *rec, int64_t expect_rev)
{
	struct pg_store *s = to_pg(st);
	struct params p = { 0 };
	char *summary = json_dump(rec->summary);
	char *doc = rec->doc_text ? strdup(rec->doc_text) : json_dump(rec->doc);
	int64_t rev = expect_rev + 1;
	PGresult *res = NULL;
	int err;

	if (!summary || !doc) {
		err = -ENOMEM;
		goto out;
	}
	p_str(&p, rec->docid);
	p_str(&p, rec->root);
	p_str(&p, rec->path);
	p_str(&p, rec->name);
	p_int(&p, rec->type);
	p_int(&p, rev);
	p_int(&p, rec->updated);
	p_bool(&p, rec->publish);
	p_bool(&p, rec->binding);
	p_str(&p, summary);
	p_str(&p, doc);
	p_str(&p, s->instance);
	/* The row count of the SELECT is the row count of the write. */
	if (expect_rev) {
		p_int(&p, expect_rev);
		err = pg_exec_p(s,
				"WITH w AS (UPDATE entities SET root=$2, path=$3, name=$4, "
				"type=$5, rev=$6, updated=$7, publish=$8, binding=$9, "
				"summary=$10, doc=$11 WHERE docid = $1 AND rev = $13 "
				"RETURNING docid, type)" SQL_RECORD_CHANGE("put", "$12"),
				&p, &res);
	} else {
		err = pg_exec_p(s,
				"WITH w AS (INSERT INTO entities (docid, root, path, name, "
				"type, rev, updated, publish, binding, summary, doc) "
				"VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) "
				"ON CONFLICT (docid) DO NOTHING RETURNING docid, type)"
				SQL_RECORD_CHANGE("put", "$12"),
				&p, &res);
	}
	if (err)
		goto out;
	if (!changed(res)) {
		err = expect_rev ? -ESTALE : -EEXIST;
		goto out;
	}
	rec->rev = rev;
out:
	PQclear(res);
	free(summary);
	free(doc);
	return err;
}

static int pg_entity_delete(struct store *st, const char *docid, int64_t expect_rev)
{
	struct pg_store *s = to_pg(st);
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	p_str(&p, docid);
	p_str(&p, s->instance);
	if (expect_rev) {
		p_int(&p, expect_rev);
		err = pg_exec_p(s,
				"WITH w AS (DELETE FROM entities WHERE docid = $1 AND "
				"rev = $3 RETURNING docid, -1 AS type)"
				SQL_RECORD_CHANGE("delete", "$2"),
				&p, &res);
	} else {
		err = pg_exec_p(s,
				"WITH w AS (DELETE FROM entities WHERE docid = $1 "
				"RETURNING docid, -1 AS type)" SQL_RECORD_CHANGE("delete", "$2"),
				&p, &res);
	}
	if (!err && !changed(res))
		err = expect_rev ? -ESTALE : -ENOENT;
	PQclear(res);
	return err;
}
static const char *entity_where(const struct entity_query *q)
{
	if (q->root)
		return q->public_only ? "root = $1 AND type = $2 AND publish AND NOT binding"
				      : "root = $1 AND type = $2";
	return q->public_only ? "path = $1 AND type = $2 AND publish AND NOT binding"
			      : "path = $1 AND type = $2";
}

/* The first column of every row, as a JSON array (the caller's). */
static int rows_array(PGresult *res, json_t **out)
{
	json_t *arr = json_array();

	if (!arr)
		return -ENOMEM;
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *j = value_json(res, i, 0);

		if (!j || json_array_append_new(arr, j)) {
			json_decref(arr);
			return -EIO;
		}
	}
	*out = arr;
	return 0;
}

static int pg_entity_list(struct store *st, const struct entity_query *q, json_t **out)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	char sql[512];
	int err;

	snprintf(sql, sizeof(sql),
		 "SELECT summary FROM entities WHERE %s ORDER BY updated DESC, docid "
		 "LIMIT $3 OFFSET $4",
		 entity_where(q));
	p_str(&p, q->root ? q->root : q->path);
	p_int(&p, q->type);
	if (q->limit)
		p_int(&p, q->limit);
	else
		p_str(&p, NULL); /* LIMIT NULL: no limit */
	p_int(&p, q->skip);
	err = pg_exec_p(to_pg(st), sql, &p, &res);
	if (!err)
		err = rows_array(res, out);
	PQclear(res);
	return err;
}

static int pg_entity_count(struct store *st, const struct entity_query *q, int64_t *out)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	char sql[256];
	int err;

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM entities WHERE %s", entity_where(q));
	p_str(&p, q->root ? q->root : q->path);
	p_int(&p, q->type);
	err = pg_exec_p(to_pg(st), sql, &p, &res);
	if (!err)
		*out = value_int(res, 0, 0);
	PQclear(res);
	return err;
}

static int hex_decode(const char *hex, unsigned char *out, size_t len)
{
	if (strlen(hex) != 2 * len)
		return -EIO;
	for (size_t i = 0; i < len; i++) {
		unsigned int byte;

		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return -EIO;
		out[i] = (unsigned char)byte;
	}
	return 0;
}

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

#define SUBJECT_COLUMNS                                                                            \
	"namespace, uuid, encode(salt, 'hex'), encode(key_hash, 'hex'), limits, created"

static int subject_lookup(struct pg_store *s, const char *sql, const char *key,
			  struct subject *out)
{
	struct subject sub = { 0 };
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	p_str(&p, key);
	err = pg_exec_p(s, sql, &p, &res);
	if (err)
		goto out;
	if (!PQntuples(res)) {
		err = -ENOENT;
		goto out;
	}
	snprintf(sub.namespace, sizeof(sub.namespace), "%s", PQgetvalue(res, 0, 0));
	snprintf(sub.uuid, sizeof(sub.uuid), "%s", PQgetvalue(res, 0, 1));
	err = hex_decode(PQgetvalue(res, 0, 2), sub.salt, sizeof(sub.salt));
	if (!err)
		err = hex_decode(PQgetvalue(res, 0, 3), sub.key_hash, sizeof(sub.key_hash));
	if (err)
		goto out;
	sub.limits = value_json(res, 0, 4);
	if (!json_is_object(sub.limits)) {
		json_decref(sub.limits);
		sub.limits = json_object();
	}
	sub.created = value_int(res, 0, 5);
	*out = sub;
out:
	PQclear(res);
	return err;
}

static int pg_subject_get(struct store *st, const char *namespace, struct subject *out)
{
	return subject_lookup(to_pg(st),
			      "SELECT " SUBJECT_COLUMNS " FROM subjects WHERE namespace = $1",
			      namespace, out);
}

static int pg_subject_by_uuid(struct store *st, const char *uuid, struct subject *out)
{
	return subject_lookup(to_pg(st), "SELECT " SUBJECT_COLUMNS " FROM subjects WHERE uuid = $1",
			      uuid, out);
}

static int pg_subject_put(struct store *st, const struct subject *sub, bool create)
{
	char salt[2 * sizeof(sub->salt) + 1], hash[2 * sizeof(sub->key_hash) + 1], *limits_text;
	json_t *limits = json_ref_or_object(sub->limits);
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	limits_text = json_dump(limits);
	json_decref(limits);
	if (!limits_text)
		return -ENOMEM;
	hex_encode(sub->salt, sizeof(sub->salt), salt);
	hex_encode(sub->key_hash, sizeof(sub->key_hash), hash);
	p_str(&p, sub->namespace);
	p_str(&p, sub->uuid);
	p_str(&p, salt);
	p_str(&p, hash);
	p_str(&p, limits_text);
	if (create) {
		p_int(&p, sub->created);
		err = pg_exec_p(to_pg(st),
				"INSERT INTO subjects (namespace, uuid, salt, key_hash, limits, "
				"created) VALUES ($1, $2, decode($3, 'hex'), "
				"decode($4, 'hex'), $5, $6) ON CONFLICT DO NOTHING",
				&p, &res);
	} else {
		err = pg_exec_p(to_pg(st),
				"UPDATE subjects SET uuid = $2, salt = decode($3, 'hex'), "
				"key_hash = decode($4, 'hex'), limits = $5 WHERE namespace = $1",
				&p, &res);
	}
	if (!err && !changed(res))
		err = create ? -EEXIST : -ENOENT;
	PQclear(res);
	free(limits_text);
	return err;
}

static int pg_subject_delete(struct store *st, const char *namespace)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	p_str(&p, namespace);
	err = pg_exec_p(to_pg(st), "DELETE FROM subjects WHERE namespace = $1", &p, &res);
	if (!err && !changed(res))
		err = -ENOENT;
	PQclear(res);
	return err;
}

static int pg_subject_list(struct store *st, json_t **out)
{
	PGresult *res = NULL;
	json_t *arr = NULL;
	int err;

	err = pg_exec_p(to_pg(st),
			"SELECT namespace, uuid, limits, created FROM subjects ORDER BY namespace",
			NULL, &res);
	if (err)
		return err;
	arr = json_array();
	if (!arr) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		json_t *limits = value_json(res, i, 2);

		json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:I}", "namespace",
						     PQgetvalue(res, i, 0), "uuid",
						     PQgetvalue(res, i, 1), "limits",
						     limits ? limits : json_object(), "created",
						     (json_int_t)value_int(res, i, 3)));
	}
	PQclear(res);
	*out = arr;
	return 0;
}

/* One multi-row INSERT of the batch's rows [from, from + n): a batch costs one round trip,
 * not one per record. Every text goes as the batch holds it (the document as it came). */
static int insert_activations(struct pg_store *s, const struct activation_batch *b,
			      size_t from, size_t n)
{
	const size_t cols = 6;
	const char **vals = calloc(n * cols, sizeof(*vals));
	char (*starts)[24] = calloc(n, sizeof(*starts));
	struct buf sql = BUF_INIT;
	int err = 0;

	if (!vals || !starts) {
		err = -ENOMEM;
		goto out;
	}
	err = buf_puts(&sql, "INSERT INTO activations (activation_id, namespace, filter_name, "
			     "start, summary, doc) VALUES ");
	for (size_t i = 0; i < n && !err; i++) {
		const struct activation_row *row = &b->rows[from + i];
		const char **v = vals + cols * i;
		size_t k = cols * i;

		snprintf(starts[i], sizeof(starts[i]), "%" JSON_INTEGER_FORMAT, row->start);
		v[0] = activation_row_text(b, row->id_at);
		v[1] = activation_row_text(b, row->namespace_at);
		v[2] = activation_row_text(b, row->filter_at);
		v[3] = starts[i];
		v[4] = activation_row_text(b, row->summary_at);
		v[5] = activation_row_doc(b, row);
		err = buf_printf(&sql, "%s($%zu,$%zu,$%zu,$%zu,$%zu,$%zu)", i ? "," : "", k + 1,
				 k + 2, k + 3, k + 4, k + 5, k + 6);
	}
	err = err ?: buf_puts(&sql, " ON CONFLICT (activation_id) DO NOTHING");
	if (!err)
		err = pg_exec(s, sql.data, (int)(n * cols), vals, NULL);
out:
	buf_free(&sql);
	free(starts);
	free(vals);
	return err;
}

static int pg_node_subnet_list(struct store *st, json_t **out)
{
	PGresult *res = NULL;
	json_t *obj;
	int err;

	err = pg_exec_p(to_pg(st), "SELECT node, subnet FROM node_subnets", NULL, &res);
	if (err)
		return err;
	obj = json_object();
	if (!obj) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(obj, PQgetvalue(res, i, 0), json_string(PQgetvalue(res, i, 1)));
	PQclear(res);
	*out = obj;
	return 0;
}

static int pg_node_subnet_add(struct store *st, const char *node, const char *subnet)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	p_str(&p, node);
	p_str(&p, subnet);
	err = pg_exec_p(to_pg(st),
			"INSERT INTO node_subnets (node, subnet) VALUES ($1, $2) ON CONFLICT DO "
			"NOTHING",
			&p, &res);
	if (!err && !changed(res))
		err = -EEXIST;
	PQclear(res);
	return err;
}

static int pg_activation_put(struct store *st, const struct activation_batch *b)
{
	struct pg_store *s = to_pg(st);
	int err;

	/* One batch is one statement: no transaction to open, and a statement re-sent after
	 * a reconnection stores nothing twice. */
	if (b->n <= INSERT_ROWS_MAX)
		return b->n ? insert_activations(s, b, 0, b->n) : 0;
	err = pg_begin(st);
	if (err)
		return err;
	for (size_t i = 0; i < b->n && !err; i += INSERT_ROWS_MAX) {
		size_t rows = b->n - i < INSERT_ROWS_MAX ? b->n - i : INSERT_ROWS_MAX;

		err = insert_activations(s, b, i, rows);
	}
	if (err) {
		pg_rollback(st);
		return err;
	}
	return pg_commit(st);
}

static int pg_activation_get(struct store *st, const char *namespace, const char *id,
			     json_t **out)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	int err;

	p_str(&p, namespace);
	p_str(&p, id);
	err = pg_exec_p(to_pg(st),
			"SELECT doc FROM activations WHERE namespace = $1 AND activation_id = $2",
			&p, &res);
	if (err)
		return err;
	if (!PQntuples(res))
		err = -ENOENT;
	else if (!(*out = value_json(res, 0, 0)))
		err = -EIO;
	PQclear(res);
	return err;
}

/* The statement of an activation list or count and its parameters, numbered as used. */
static void activation_query_sql(const struct activation_query *q, const char *select,
				 bool ordered, char *sql, size_t len, struct params *p)
{
	int n;

	p_str(p, q->namespace);
	n = snprintf(sql, len, "SELECT %s FROM activations WHERE namespace = $1", select);
	if (q->name) {
		p_str(p, q->name);
		n += snprintf(sql + n, len - (size_t)n, " AND filter_name = $%d", p->n);
	}
	if (q->since) {
		p_int(p, q->since);
		n += snprintf(sql + n, len - (size_t)n, " AND start >= $%d", p->n);
	}
	if (q->upto) {
		p_int(p, q->upto);
		n += snprintf(sql + n, len - (size_t)n, " AND start <= $%d", p->n);
	}
	if (!ordered)
		return;
	if (q->limit)
		p_int(p, q->limit);
	else
		p_str(p, NULL);
	p_int(p, q->skip);
	snprintf(sql + n, len - (size_t)n,
		 " ORDER BY start DESC, activation_id LIMIT $%d OFFSET $%d", p->n - 1, p->n);
}

static int pg_activation_list(struct store *st, const struct activation_query *q, json_t **out)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	char sql[512];
	int err;

	activation_query_sql(q, q->docs ? "doc" : "summary", true, sql, sizeof(sql), &p);
	err = pg_exec_p(to_pg(st), sql, &p, &res);
	if (!err)
		err = rows_array(res, out);
	PQclear(res);
	return err;
}

static int pg_activation_count(struct store *st, const struct activation_query *q, int64_t *out)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	char sql[512];
	int err;

	activation_query_sql(q, "count(*)", false, sql, sizeof(sql), &p);
	err = pg_exec_p(to_pg(st), sql, &p, &res);
	if (!err)
		*out = value_int(res, 0, 0);
	PQclear(res);
	return err;
}

/* A text[] literal: {"a","b"} with quotes and backslashes escaped. */
static char *text_array(const char *const *items, size_t n)
{
	size_t len = 3;
	char *out, *w;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(items[i]) + 3;
	out = malloc(len);
	if (!out)
		return NULL;
	w = out;
	*w++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*w++ = ',';
		*w++ = '"';
		for (const char *c = items[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				*w++ = '\\';
			*w++ = *c;
		}
		*w++ = '"';
	}
	*w++ = '}';
	*w = '\0';
	return out;
}

/* Rows are chosen through the index on start and deleted by ctid (a TID scan: "IN
 * (SELECT activation_id ...)" was planned as a scan of the whole table per batch).
 * Controllers on one database run retention each: SKIP LOCKED makes their batches take
 * disjoint rows instead of waiting for each other's. */
static int pg_activation_expire(struct store *st, const char *namespace, int64_t before,
				const char *const *skip, size_t nskip, unsigned max,
				int64_t *deleted)
{
	struct params p = { 0 };
	PGresult *res = NULL;
	char *skip_arr = NULL;
	int err;

	p_int(&p, before);
	p_int(&p, max);
	if (namespace) {
		p_str(&p, namespace);
		err = pg_exec_p(to_pg(st),
				"DELETE FROM activations WHERE ctid = ANY(ARRAY(SELECT ctid "
				"FROM activations WHERE namespace = $3 AND start < $1 "
				"LIMIT $2 FOR UPDATE SKIP LOCKED))",
				&p, &res);
	} else {
		skip_arr = text_array(skip, nskip);
		if (!skip_arr)
			return -ENOMEM;
		p_str(&p, skip_arr);
		err = pg_exec_p(to_pg(st),
				"DELETE FROM activations WHERE ctid = ANY(ARRAY(SELECT ctid "
				"FROM activations WHERE start < $1 AND "
				"namespace <> ALL($3::text[]) LIMIT $2 FOR UPDATE SKIP LOCKED))",
				&p, &res);
	}
	if (!err)
		*deleted = changed(res);
	PQclear(res);
	free(skip_arr);
	return err;
}

static int pg_changes_fd(struct store *st)
{
	struct pg_store *s = to_pg(st);

	return s->listen && PQstatus(s->listen) == CONNECTION_OK ? PQsocket(s->listen) : -1;
}

static void heard(struct pg_store *s, int64_t at)
{
	if (at > s->heard_at)
		s->heard_at = at;
}

/* LISTENs (again); when the listener was away, replays what was written meanwhile. The
 * first time, the database's clock says from when changes count. */
static int listen_start(struct pg_store *s, store_change_cb cb, void *data)
{
	PGresult *res = PQexec(s->listen, "LISTEN " CHANGES_CHANNEL "; SELECT " SQL_NOW_MS);
	char since[24];
	const char *vals[2] = { since, s->instance };

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return -ECONNREFUSED;
	}
	if (!s->heard_at)
		heard(s, value_int(res, 0, 0));
	PQclear(res);
	if (!s->listen_lost)
		return 0;
	snprintf(since, sizeof(since), "%" PRId64, s->heard_at - CHANGES_REPLAY_MS);
	res = PQexecParams(s->listen,
			   "SELECT docid, op, type, at FROM entity_changes WHERE at >= $1 AND "
			   "origin <> $2 ORDER BY seq",
			   2, NULL, vals, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		return -ECONNREFUSED;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_change c = { .docid = PQgetvalue(res, i, 0),
					  .op = PQgetvalue(res, i, 1),
					  .type = (int)value_int(res, i, 2) };

		cb(&c, data);
		heard(s, value_int(res, i, 3));
	}
	PQclear(res);
	pr_warn("store: listening for other controllers' changes again");
	s->listen_lost = false;
	return 0;
}

/* Keeps entity_changes to its last hour, on the listener's otherwise idle connection. */
static void prune_changes(struct pg_store *s)
{
	char before[24];
	const char *vals[1] = { before };
	PGresult *res;

	if (clock_mono_ms() < s->next_prune)
		return;
	s->next_prune = clock_mono_ms() + CHANGES_PRUNE_EVERY_MS;
	snprintf(before, sizeof(before), "%" PRId64, s->heard_at - CHANGES_KEEP_MS);
	res = PQexecParams(s->listen, "DELETE FROM entity_changes WHERE at < $1", 1, NULL, vals,
			   NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		pr_debug("store: pruning entity_changes: %s", PQresultErrorMessage(res));
	PQclear(res);
}

static int pg_changes_read(struct store *st, store_change_cb cb, void *data)
{
	struct pg_store *s = to_pg(st);
	PGnotify *n;
	int err;

	if (!s->listen)
		return -ENOMEM;
	/* Lost: the connection, or only the LISTEN or its replay (a statement timeout on a
	 * connection that stayed up). Either way the whole start is tried again. */
	if (PQstatus(s->listen) != CONNECTION_OK || s->listen_lost) {
		s->listen_lost = true;
		/* An attempt blocks the loop up to connect_timeout: they grow apart. */
		if (clock_mono_ms() < s->listen_retry)
			return -ECONNREFUSED;
		err = PQstatus(s->listen) == CONNECTION_OK ?
			      0 :
			      pg_reset_step(s->listen, &s->listen_reset, LISTEN_RECONNECT_WAIT_MS,
					    RECONNECT_TIMEOUT_MS);
		if (err == -EINPROGRESS)
			return -ECONNREFUSED; /* (the timer comes back in a second) */
		if (err || listen_start(s, cb, data)) {
			s->listen_retry = clock_mono_ms() + s->listen_pause;
			if (s->listen_pause < 30000)
				s->listen_pause *= 2;
			return -ECONNREFUSED;
		}
		s->listen_pause = 1000;
	}
	/* A broken connection turns CONNECTION_BAD here (a server that ends the session
	 * first sends why, and the read succeeds), so changes_fd says -1. */
	if (!PQconsumeInput(s->listen) || PQstatus(s->listen) != CONNECTION_OK) {
		pr_warn("store: lost the feed of other controllers' changes: %s",
			PQerrorMessage(s->listen));
		s->listen_lost = true;
		s->listen_retry = 0; /* the server may well be there: try at the next call */
		return -ECONNREFUSED;
	}
	while ((n = PQnotifies(s->listen))) {
		json_t *j = json_parse(n->extra, strlen(n->extra), NULL, 0);
		json_t *type = json_object_get(j, "type");
		struct store_change c = { .op = json_obj_str(j, "op"),
					  .docid = json_obj_str(j, "docid"),
					  .type = (int)json_integer_value(type) };
		const char *from = json_obj_str(j, "from");

		heard(s, json_integer_value(json_object_get(j, "at")));
		/* Our own writes were published when made. */
		if (c.op && c.docid && (!from || strcmp(from, s->instance)))
			cb(&c, data);
		json_decref(j);
		PQfreemem(n);
	}
	prune_changes(s);
	return 0;
}

static const struct store_ops pg_ops = {
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.entity_get = pg_entity_get,
	.entity_rev = pg_entity_rev,
	.entity_put = pg_entity_put,
	.entity_delete = pg_entity_delete,
	.entity_list = pg_entity_list,
	.entity_count = pg_entity_count,
	.subject_get = pg_subject_get,
	.subject_by_uuid = pg_subject_by_uuid,
	.subject_put = pg_subject_put,
	.subject_delete = pg_subject_delete,
	.subject_list = pg_subject_list,
	.node_subnet_list = pg_node_subnet_list,
	.node_subnet_add = pg_node_subnet_add,
	.activation_put = pg_activation_put,
	.activation_get = pg_activation_get,
	.activation_list = pg_activation_list,
	.activation_count = pg_activation_count,
	.activation_expire = pg_activation_expire,
	.changes_fd = pg_changes_fd,
	.changes_read = pg_changes_read,
};

/* A multi-statement script (the simple query protocol takes several at once). */
static int exec_script(struct pg_store *s, const char *sql)
{
	PGresult *res = PQexec(s->conn, sql);
	int err = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		pr_err("store: %.60s...: %s", sql, PQresultErrorMessage(res));
		err = -EIO;
	}
	PQclear(res);
	return err;
}

static int migrate_locked(struct pg_store *s)
{
	PGresult *res = NULL;
	int version, err;

	err = exec_script(s, "CREATE TABLE IF NOT EXISTS xwhisk_schema ("
			     "  version INTEGER PRIMARY KEY,"
			     "  applied TIMESTAMPTZ NOT NULL DEFAULT now())");
	if (err)
		return err;
	err = pg_exec(s, "SELECT coalesce(max(version), 0) FROM xwhisk_schema", 0, NULL, &res);
	if (err)
		return err;
	version = (int)value_int(res, 0, 0);
	PQclear(res);
	if (version > SCHEMA_VERSION) {
		pr_err("store: schema version %d is newer than this program's %d", version,
		       SCHEMA_VERSION);
		return -EPROTO;
	}
	for (; version < SCHEMA_VERSION; version++) {
		char record[96];

		snprintf(record, sizeof(record), "INSERT INTO xwhisk_schema (version) VALUES (%d)",
			 version + 1);
		err = exec_script(s, "BEGIN");
		if (!err)
			err = exec_script(s, migrations[version]);
		if (!err)
			err = exec_script(s, record);
		if (err) {
			(void)exec_script(s, "ROLLBACK");
			return err;
		}
		err = exec_script(s, "COMMIT");
		if (err)
			return err;
		pr_info("store: PostgreSQL schema migrated to version %d", version + 1);
	}
	return 0;
}

/* Whoever holds the lock migrates; the others wait for it and then find nothing to do. */
static int migrate(struct pg_store *s)
{
	/* A step (an index on a big table) and the wait for another controller's steps may
	 * take longer than a request's statement may. */
	int err = exec_script(s, "SET lock_timeout = 0; SET statement_timeout = 0; "
				 "SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")");

	if (err)
		return err;
	err = migrate_locked(s);
	(void)exec_script(s, "SELECT pg_advisory_unlock(" MIGRATION_LOCK_KEY "); "
			     "RESET lock_timeout; RESET statement_timeout");
	return err;
}

static int pg_open(const char *conninfo, bool follow, struct store **out)
{
	struct pg_store *s = calloc(1, sizeof(*s));
	const char *enc;
	int err;

	if (!s)
		return -ENOMEM;
	s->base.ops = &pg_ops;
	s->hold_ms = DOWN_HOLD_MIN_MS;
	s->listen_pause = 1000;
	random_hex(s->instance, sizeof(s->instance) - 1);
	s->conn = pg_conn_open(conninfo, PG_CONN_STORE);
	if (!s->conn) {
		err = -ENOMEM;
		goto out;
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		pr_err("store: cannot connect to PostgreSQL: %s", PQerrorMessage(s->conn));
		err = -ECONNREFUSED;
		goto out;
	}
	PQsetNoticeProcessor(s->conn, notice_quiet, NULL);
	/* Documents are UTF-8; a database in another encoding refuses what it cannot hold. */
	enc = PQparameterStatus(s->conn, "server_encoding");
	if (enc && strcmp(enc, "UTF8"))
		pr_warn("store: the database's encoding is %s, not UTF8: records with characters "
			"it lacks will be refused",
			enc);
	err = migrate(s);
	if (err)
		goto out;
	if (!follow)
		goto done;
	/* Without the feed the store still works; changes_read keeps trying. */
	err = -ENOMEM;
	s->listen = pg_conn_open(conninfo, PG_CONN_STORE);
	if (!s->listen)
		goto out;
	if (PQstatus(s->listen) != CONNECTION_OK || listen_start(s, NULL, NULL)) {
		pr_warn("store: cannot listen for other controllers' changes: %s",
			PQerrorMessage(s->listen));
		s->listen_lost = true;
	}
	s->next_prune = clock_mono_ms() + CHANGES_PRUNE_EVERY_MS;
done:
	*out = &s->base;
	return 0;
out:
	pg_close(&s->base);
	return err;
}

int store_pg_open(const char *conninfo, struct store **out)
{
	return pg_open(conninfo, true, out);
}

int store_pg_open_second(const char *conninfo, struct store **out)
{
	return pg_open(conninfo, false, out);
}
