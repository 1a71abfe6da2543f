// SPDX-License-Identifier: Apache-2.0
/*
 * The store: entities with revisions, listing, subjects, activations, retention. Runs on
 * SQLite in a temporary directory, or on PostgreSQL when XWHISK_TEST_STORE names a server
 * (tests/run.sh starts one with tests/pg/pgtmp.sh); its tables are dropped first.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "activation.h"
#include "auth.h"
#include "json.h"
#include "loop.h"
#include "pg_leader.h"
#include "retention.h"
#include "store.h"
#include "subnets.h"
#include "test.h"

static char dbpath[] = "/tmp/xwhisk-test-store-XXXXXX";
static const char *pg_uri; /* NULL: SQLite */

static struct store *open_store(void)
{
	struct store *st = NULL;
	char uri[512];

	if (pg_uri)
		snprintf(uri, sizeof(uri), "%s", pg_uri);
	else
		snprintf(uri, sizeof(uri), "sqlite:%s/db", dbpath);
	return store_open(uri, &st) ? NULL : st;
}

/* SQL on a connection of the test's own (PostgreSQL only); 0 on success. */
static int pg_sql(const char *sql)
{
	PGconn *c = PQconnectdb(pg_uri);
	PGresult *res;
	int err = -EIO;

	if (PQstatus(c) == CONNECTION_OK) {
		ExecStatusType rs;

		res = PQexec(c, sql);
		rs = PQresultStatus(res);
		if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK)
			err = 0;
		else
			fprintf(stderr, "  %s: %s", sql, PQresultErrorMessage(res));
		PQclear(res);
	}
	PQfinish(c);
	return err;
}

static long pg_long(const char *sql)
{
	PGconn *c = PQconnectdb(pg_uri);
	PGresult *res = PQexec(c, sql);
	long v = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) ?
			 strtol(PQgetvalue(res, 0, 0), NULL, 10) :
			 -1;

	PQclear(res);
	PQfinish(c);
	return v;
}

static int pg_reset(void)
{
	return pg_sql("DROP TABLE IF EXISTS entities, subjects, activations, entity_changes, "
		      "node_subnets, xwhisk_schema");
}

static void make_rec(struct entity_rec *rec, enum entity_type type, const char *path,
		     const char *name, int64_t updated)
{
	memset(rec, 0, sizeof(*rec));
	rec->type = type;
	rec->path = strdup(path);
	rec->root = strndup(path, strcspn(path, "/"));
	rec->name = strdup(name);
	if (asprintf(&rec->docid, "%s/%s", path, name) < 0)
		rec->docid = NULL;
	rec->updated = updated;
	rec->doc = json_pack("{s:s,s:s,s:I}", "namespace", path, "name", name, "updated",
			     (json_int_t)updated);
	rec->summary = json_pack("{s:s}", "name", name);
}

static void test_entity_revisions(void)
{
	struct store *st = open_store();
	struct entity_rec rec, got;

	ASSERT(st);
	make_rec(&rec, ENTITY_ACTION, "ns1", "a", 1);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	CHECK(rec.rev == 1);
	CHECK(st->ops->entity_put(st, &rec, 0) == -EEXIST);
	CHECK(st->ops->entity_put(st, &rec, 1) == 0 && rec.rev == 2);
	/* A writer that read revision 1 has lost the race. */
	CHECK(st->ops->entity_put(st, &rec, 1) == -ESTALE);
	CHECK(st->ops->entity_get(st, "ns1/a", &got) == 0);
	CHECK(got.rev == 2 && got.type == ENTITY_ACTION && !strcmp(got.root, "ns1"));
	entity_rec_clear(&got);
	CHECK(st->ops->entity_delete(st, "ns1/a", 1) == -ESTALE);
	CHECK(st->ops->entity_delete(st, "ns1/a", 2) == 0);
	CHECK(st->ops->entity_get(st, "ns1/a", &got) == -ENOENT);
	CHECK(st->ops->entity_delete(st, "ns1/a", 0) == -ENOENT);
	entity_rec_clear(&rec);
	store_close(st);
}

static void test_entity_listing(void)
{
	struct store *st = open_store();
	struct entity_query q = { .type = ENTITY_ACTION };
	struct entity_rec rec;
	json_t *list = NULL;
	int64_t n = 0;

	ASSERT(st);
	for (int i = 0; i < 5; i++) {
		char name[8];

		snprintf(name, sizeof(name), "x%d", i);
		make_rec(&rec, ENTITY_ACTION, i < 3 ? "ns2" : "ns2/pkg", name, 100 + i);
		CHECK(st->ops->entity_put(st, &rec, 0) == 0);
		entity_rec_clear(&rec);
	}
	make_rec(&rec, ENTITY_TRIGGER, "ns2", "t", 50);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	entity_rec_clear(&rec);

	q.path = "ns2";
	CHECK(st->ops->entity_list(st, &q, &list) == 0);
	CHECK(json_array_size(list) == 3);
	/* newest first */
	CHECK_STR(json_obj_str(json_array_get(list, 0), "name"), "x2");
	json_decref(list);
	q.path = NULL;
	q.root = "ns2";
	CHECK(st->ops->entity_count(st, &q, &n) == 0 && n == 5);
	q.skip = 1;
	q.limit = 2;
	CHECK(st->ops->entity_list(st, &q, &list) == 0);
	CHECK(json_array_size(list) == 2);
	CHECK_STR(json_obj_str(json_array_get(list, 0), "name"), "x3");
	json_decref(list);
	store_close(st);
}

static void test_subjects(void)
{
	struct store *st = open_store();
	char pair[128];
	struct subject s;

	ASSERT(st);
	CHECK(auth_seed(st) == 0);
	CHECK(auth_check(st, "23bc46b1-71f6-4ed5-8c54-816aa4f8c502",
			 "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP", &s) == 0);
	CHECK_STR(s.namespace, "guest");
	subject_clear(&s);
	CHECK(auth_check(st, "23bc46b1-71f6-4ed5-8c54-816aa4f8c502",
			 "123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwX",
			 &s) == -EACCES);
	CHECK(auth_create_namespace(st, "alice", NULL, pair) == 0);
	CHECK(strlen(pair) == 36 + 1 + 64);
	CHECK(auth_create_namespace(st, "alice", NULL, pair) == -EEXIST);
	CHECK(st->ops->subject_delete(st, "alice") == 0);
	CHECK(st->ops->subject_delete(st, "alice") == -ENOENT);
	store_close(st);
}

static void test_subnet_plan(void)
{
	struct subnet_plan sp;
	json_t *taken = json_pack("{s:s,s:s}", "a", "10.96.0.0/24", "b", "10.96.1.128/25");
	char out[SUBNET_TEXT];

	CHECK(subnet_plan_init(&sp, "10.96.0.0/16", 16) == -EINVAL);
	CHECK(subnet_plan_init(&sp, "10.96.0.0/16", 31) == -EINVAL);
	CHECK(subnet_plan_init(&sp, "10.0.0.0/8", 30) == -EINVAL);
	CHECK(subnet_plan_init(&sp, "10.96.0.0", 24) == -EINVAL);
	ASSERT(subnet_plan_init(&sp, "10.96.0.0/22", 24) == 0);
	/* A block overlapping any taken one (of whatever size) is not free. */
	CHECK(subnet_plan_pick(&sp, taken, out, sizeof(out)) == 0);
	CHECK_STR(out, "10.96.2.0/24");
	json_object_set_new(taken, "c", json_string("10.96.2.0/23"));
	CHECK(subnet_plan_pick(&sp, taken, out, sizeof(out)) == -ENOSPC);
	json_decref(taken);
}

/* Blocks are per node name, kept in the store: the same again after a reopen. */
static void test_node_subnets(void)
{
	struct store *st = open_store();
	struct subnet_plan sp;
	char out[SUBNET_TEXT];

	ASSERT(st);
	ASSERT(subnet_plan_init(&sp, "10.96.0.0/22", 24) == 0);
	CHECK(subnet_plan_assign(&sp, st, "n1", NULL, out, sizeof(out)) == 0);
	CHECK_STR(out, "10.96.0.0/24");
	CHECK(subnet_plan_assign(&sp, st, "n2", NULL, out, sizeof(out)) == 0);
	CHECK_STR(out, "10.96.1.0/24");
	CHECK(subnet_plan_assign(&sp, st, "n1", NULL, out, sizeof(out)) == 0);
	CHECK_STR(out, "10.96.0.0/24");
	/* A node that kept its block while the store lost it claims it back. */
	CHECK(subnet_plan_assign(&sp, st, "n3", "10.96.3.0/24", out, sizeof(out)) == 0);
	CHECK_STR(out, "10.96.3.0/24");
	/* One of its own outside the plan: none given; one overlapping another's: none. */
	CHECK(subnet_plan_assign(&sp, st, "own", "192.168.7.0/24", out, sizeof(out)) == 0);
	CHECK_STR(out, "");
	CHECK(subnet_plan_assign(&sp, st, "copy", "10.96.1.0/24", out, sizeof(out)) == 0);
	CHECK_STR(out, "");
	CHECK(subnet_plan_assign(&sp, st, "n4", NULL, out, sizeof(out)) == 0);
	CHECK_STR(out, "10.96.2.0/24");
	CHECK(subnet_plan_assign(&sp, st, "n5", NULL, out, sizeof(out)) == -ENOSPC);
	CHECK(st->ops->node_subnet_add(st, "n2", "10.97.0.0/24") == -EEXIST);
	CHECK(st->ops->node_subnet_add(st, "n9", "10.96.1.0/24") == -EEXIST);
	store_close(st);
	st = open_store();
	ASSERT(st);
	CHECK(subnet_plan_assign(&sp, st, "n2", "10.96.1.0/24", out, sizeof(out)) == 0);
	CHECK_STR(out, "10.96.1.0/24");
	store_close(st);
}

/* Stores records as trees (the old body's path: their documents are dumped). */
static int put_docs(struct store *st, json_t *const *docs, size_t n)
{
	struct activation_batch b = { 0 };
	int err = 0;

	for (size_t i = 0; i < n && !err; i++)
		err = activation_batch_add(&b, docs[i], NULL, 0);
	err = err ?: st->ops->activation_put(st, &b);
	activation_batch_free(&b);
	return err;
}

static json_t *record(const char *id, const char *name, int64_t start, const char *path)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:i,s:{}},s:[{s:s,s:s}],s:[]}", "namespace",
			 "ns3", "name", name, "activationId", id, "start", (json_int_t)start, "end",
			 (json_int_t)(start + 5), "response", "statusCode", 0, "result",
			 "annotations", "key", "path", "value", path, "logs");
}

static void test_activations(void)
{
	struct store *st = open_store();
	struct activation_query q = { .namespace = "ns3" };
	json_t *recs[3], *list = NULL, *got = NULL;
	int64_t n = 0;

	ASSERT(st);
	recs[0] = record("00000000000000000000000000000001", "a", 1000, "ns3/a");
	recs[1] = record("00000000000000000000000000000002", "b", 2000, "ns3/pkg/b");
	recs[2] = record("00000000000000000000000000000003", "a", 3000, "ns3/a");
	CHECK(put_docs(st, recs, 3) == 0);
	/* Resending a batch stores nothing twice. */
	CHECK(put_docs(st, recs, 3) == 0);
	CHECK(st->ops->activation_count(st, &q, &n) == 0 && n == 3);
	q.name = "a";
	CHECK(st->ops->activation_count(st, &q, &n) == 0 && n == 2);
	q.name = "pkg/b";
	CHECK(st->ops->activation_count(st, &q, &n) == 0 && n == 1);
	q.name = NULL;
	q.since = 2000;
	q.upto = 3000;
	CHECK(st->ops->activation_list(st, &q, &list) == 0);
	CHECK(json_array_size(list) == 2);
	CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "statusCode")) == 0);
	json_decref(list);
	CHECK(st->ops->activation_get(st, "ns3", "00000000000000000000000000000002", &got) == 0);
	CHECK_STR(json_obj_str(got, "name"), "b");
	json_decref(got);
	CHECK(st->ops->activation_get(st, "other", "00000000000000000000000000000002", &got) ==
	      -ENOENT);
	for (int i = 0; i < 3; i++)
		json_decref(recs[i]);
	store_close(st);
}

/* A record stored as the text it came in (JSON lines; started in 2100, out of the way of
 * test_retention): read back as that text parses, its
 * summary and filter name as for a tree, NUL in strings kept, and the same record sent
 * again as a tree stores nothing twice. */
static void test_activation_text(void)
{
	static const char text[] =
		"{ \"namespace\":\"ns5\", \"name\":\"t\",\"activationId\":"
		"\"0000000000000000000000000000000a\",\"start\":4102444800000,\"end\":4102444800007,\"duration\":7,"
		"\"response\":{\"statusCode\":1,\"result\":{\"s\":\"a\\u0000b\"}},"
		"\"annotations\":[{\"key\":\"path\",\"value\":\"ns5/pkg/t\"},"
		"{\"key\":\"binding\",\"value\":\"ns5/bound\"}],\"logs\":[],\"cause\":\"c1\","
		"\"version\":\"0.0.2\",\"publish\":false }";
	struct store *st = open_store();
	struct activation_query q = { .namespace = "ns5" };
	json_t *doc = json_parse(text, sizeof(text) - 1, NULL, 0), *got = NULL, *list = NULL;
	struct activation_batch b = { 0 };
	json_t *sum, *want;
	int64_t n = 0;

	ASSERT(st && doc);
	CHECK(activation_batch_add(&b, doc, text, sizeof(text) - 1) == 0);
	CHECK(st->ops->activation_put(st, &b) == 0);
	activation_batch_free(&b);
	CHECK(put_docs(st, &doc, 1) == 0);
	CHECK(st->ops->activation_count(st, &q, &n) == 0 && n == 1);
	CHECK(st->ops->activation_get(st, "ns5", "0000000000000000000000000000000a", &got) == 0);
	CHECK(json_equal(got, doc));
	CHECK(json_string_length(json_object_get(
		      json_object_get(json_object_get(got, "response"), "result"), "s")) == 3);
	json_decref(got);
	q.name = "bound/t"; /* the binding's package, not the path's */
	CHECK(st->ops->activation_count(st, &q, &n) == 0 && n == 1);
	q.name = NULL;
	CHECK(st->ops->activation_list(st, &q, &list) == 0 && json_array_size(list) == 1);
	sum = json_array_get(list, 0);
	want = json_pack("{s:s,s:s,s:s,s:b,s:O,s:s,s:I,s:s,s:I,s:i,s:i}", "namespace", "ns5",
			 "name", "t", "version", "0.0.2", "publish", 0, "annotations",
			 json_object_get(doc, "annotations"), "activationId",
			 "0000000000000000000000000000000a", "start", (json_int_t)4102444800000,
			 "cause", "c1", "end", (json_int_t)4102444800007, "duration", 7,
			 "statusCode", 1);
	CHECK(json_equal(sum, want));
	json_decref(want);
	json_decref(list);
	json_decref(doc);
	store_close(st);
}

/* A row made from a record's own text (its summary of the text's pieces) and one made
 * from its tree alone (dumped) say the same: spaces, repeated keys (the last counts, as
 * json_parse keeps it), strings holding braces, quotes and escapes, a key written with an
 * escape, a record not ended. */
static void test_activation_row_text(void)
{
	static const char *const texts[] = {
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000b\","
		"\"start\":1,\"end\":9,\"duration\":8,\"response\":{\"statusCode\":2,\"result\":{}},"
		"\"annotations\":[{\"key\":\"path\",\"value\":\"n/p/a\"}]}",
		" { \"name\" : \"x\" ,\t\"namespace\":\"n\", \"name\": \"a\\\"}{\" ,\"start\" : 7 ,"
		"\"annotations\" : [ {\"key\":\"k\",\"value\":\"]}\\\\\"} , [1,{\"a\":[]}] ] ,"
		"\"activationId\":\"0000000000000000000000000000000c\",\"end\":0,"
		"\"response\":{\"statusCode\":0},\"cause\":null,\"publish\":true } ",
		"{\"na\\u006de\":\"esc\",\"namespace\":\"n\",\"activationId\":\"0000000000000000000000000000000d\","
		"\"start\":3,\"end\":4,\"response\":{\"statusCode\":1,\"result\":{\"s\":\"\\u0000\"}},"
		"\"version\":\"0.0.1\",\"duration\":\"odd\"}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_t *doc = json_parse(texts[i], strlen(texts[i]), NULL, 0), *a, *b;
		struct activation_batch with = { 0 }, without = { 0 };
		const char *sa, *sb;

		ASSERT(doc);
		CHECK(activation_batch_add(&with, doc, texts[i], strlen(texts[i])) == 0);
		CHECK(activation_batch_add(&without, doc, NULL, 0) == 0);
		sa = activation_row_text(&with, with.rows[0].summary_at);
		sb = activation_row_text(&without, without.rows[0].summary_at);
		a = json_parse(sa, strlen(sa), NULL, 0);
		b = json_parse(sb, strlen(sb), NULL, 0);
		if (!json_equal(a, b) || !a)
			fprintf(stderr, "  record %zu: %s\n  against %s\n", i, sa, sb);
		CHECK(a && json_equal(a, b));
		CHECK_STR(activation_row_text(&with, with.rows[0].filter_at),
			  activation_row_text(&without, without.rows[0].filter_at));
		json_decref(a);
		json_decref(b);
		activation_batch_free(&with);
		activation_batch_free(&without);
		json_decref(doc);
	}
}

/* A record's skeleton (its text validated, only the members a row needs parsed) is
 * judged by activation_check as its whole tree is, and makes the same row; a key written
 * with an escape, or text that is not a JSON object, has none (the whole parse says why). */
static void test_activation_skeleton(void)
{
	static const char *const texts[] = {
		/* good */
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000b\","
		"\"start\":1,\"end\":9,\"duration\":8,\"response\":{\"result\":{\"big\":[1,2,{\"x\":\"y\"}]},"
		"\"statusCode\":2},\"logs\":[\"l1\",\"l2\"],"
		"\"annotations\":[{\"key\":\"binding\",\"value\":\"n/b\"},{\"key\":\"path\",\"value\":\"n/p/a\"}]}",
		" { \"name\" : \"x\" ,\t\"namespace\":\"n\", \"name\": \"a\\\"}{\" ,\"start\" : 7 ,"
		"\"annotations\" : [ {\"key\":\"k\",\"value\":\"]}\\\\\"} ] ,"
		"\"activationId\":\"0000000000000000000000000000000c\","
		"\"response\":{\"statusCode\":0,\"statusCode\":1},\"cause\":null,\"publish\":true } ",
		/* annotations: only what json_kv_get would find under binding and path is kept */
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000e\","
		"\"start\":1,\"response\":{\"statusCode\":0},\"annotations\":[1,\"x\",{\"key\":\"limits\","
		"\"value\":{\"a\":[1,{\"b\":\"]\"}]}},{\"key\":\"p\\u0061th\",\"value\":\"n/p/esc\"},"
		"{\"key\":\"path\",\"value\":\"n/p/later\"} ]}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000e\","
		"\"start\":1,\"response\":{\"statusCode\":0},\"annotations\":[ {\"key\":5,\"value\":\"x\"} ,"
		"{\"value\":\"n/q/a\",\"key\":\"path\"},{\"key\":\"binding\",\"value\":\"n/bb\"}]}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000e\","
		"\"start\":1,\"response\":{\"statusCode\":0},\"annotations\":[{\"k\\u0065y\":\"binding\","
		"\"value\":\"n/esc\"},{\"key\":\"binding\",\"value\":\"n/plain\"}]}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000e\","
		"\"start\":1,\"response\":{\"statusCode\":0},\"annotations\":[]}",
		/* values read without the parser (plain strings, short integers) and with it
		 * (escapes, 19 digits and more, a sign alone on zero) */
		"{\"namespace\":\"n\\u0041\",\"name\":\"\xc3\xa9t\\u00e9\",\"activationId\":"
		"\"0000000000000000000000000000000f\",\"start\":1234567890123456789,"
		"\"end\":1234567890123456790,\"duration\":1,\"response\":{\"statusCode\":0}}",
		"{\"namespace\":\"\xc3\xb1\",\"name\":\"\",\"activationId\":\"0000000000000000000000000000000f\","
		"\"start\":-0,\"end\":999999999999999999,\"response\":{\"statusCode\":-0}}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000f\","
		"\"start\":10E2,\"response\":{\"statusCode\":0}}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000e\","
		"\"start\":1,\"response\":{\"statusCode\":0},\"annotations\":{\"key\":\"path\",\"value\":\"n/o/a\"}}",
		/* refused by activation_check, for what the skeleton holds */
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000d\","
		"\"start\":1,\"response\":{\"statusCode\":4}}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000d\","
		"\"start\":1,\"response\":{\"result\":{}}}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000d\","
		"\"start\":1,\"response\":[],\"logs\":[]}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000d\","
		"\"start\":1,\"response\":{\"statusCode\":0},\"logs\":{}}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000d\","
		"\"start\":\"1\",\"response\":{\"statusCode\":0}}",
		"{\"namespace\":\"n\",\"name\":\"a\",\"activationId\":\"0000000000000000000000000000000d\","
		"\"start\":1,\"end\":1.5,\"response\":{\"statusCode\":0}}",
		"{\"namespace\":\"n\",\"activationId\":\"0000000000000000000000000000000D\","
		"\"start\":1,\"response\":{\"statusCode\":0}}",
		"{}",
	};
	static const char *const none[] = {
		"{\"na\\u006de\":\"esc\",\"namespace\":\"n\"}", "[1]", "{\"a\":1", "{\"a\":01}", "\"x\"",
		"{\"namespace\":\"n\",\"response\":{\"st\\u0061tusCode\":0}}",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		const char *t = texts[i];
		json_t *doc = json_parse(t, strlen(t), NULL, 0), *sk = activation_skeleton(t, strlen(t));
		const char *why_doc, *why_sk;

		ASSERT(doc);
		CHECK(sk != NULL);
		if (!sk) {
			json_decref(doc);
			continue;
		}
		why_doc = activation_check(doc);
		why_sk = activation_check(sk);
		if (!why_doc != !why_sk || (why_doc && strcmp(why_doc, why_sk)))
			fprintf(stderr, "  record %zu: %s against %s\n", i, why_sk ?: "accepted",
				why_doc ?: "accepted");
		CHECK(!why_doc == !why_sk && (!why_doc || !strcmp(why_doc, why_sk)));
		{
			/* The ingest's way: one scan, judged and added, or refused with the same why. */
			struct activation_batch c = { 0 };
			const char *why_text = "unset";

			CHECK(activation_batch_add_text(&c, t, strlen(t), &why_text) == 0);
			CHECK(!why_doc == !why_text && (!why_doc || !strcmp(why_doc, why_text)));
			CHECK(c.n == (why_doc ? 0 : 1));
			if (c.n) {
				struct activation_batch d = { 0 };

				CHECK(activation_batch_add(&d, doc, t, strlen(t)) == 0);
				const struct activation_row *cr = &c.rows[0], *dr = &d.rows[0];
				const size_t ca[] = { cr->id_at, cr->namespace_at, cr->filter_at, cr->summary_at };
				const size_t da[] = { dr->id_at, dr->namespace_at, dr->filter_at, dr->summary_at };

				CHECK(cr->start == dr->start);
				for (size_t k = 0; k < 4; k++)
					CHECK_STR(activation_row_text(&c, ca[k]), activation_row_text(&d, da[k]));
				activation_batch_free(&d);
			}
			activation_batch_free(&c);
		}
		if (!why_doc) {
			struct activation_batch a = { 0 }, b = { 0 };

			CHECK(activation_batch_add(&a, sk, t, strlen(t)) == 0);
			CHECK(activation_batch_add(&b, doc, t, strlen(t)) == 0);
			CHECK(a.rows[0].start == b.rows[0].start);
			CHECK_STR(activation_row_text(&a, a.rows[0].id_at),
				  activation_row_text(&b, b.rows[0].id_at));
			CHECK_STR(activation_row_text(&a, a.rows[0].namespace_at),
				  activation_row_text(&b, b.rows[0].namespace_at));
			CHECK_STR(activation_row_text(&a, a.rows[0].filter_at),
				  activation_row_text(&b, b.rows[0].filter_at));
			CHECK_STR(activation_row_text(&a, a.rows[0].summary_at),
				  activation_row_text(&b, b.rows[0].summary_at));
			activation_batch_free(&a);
			activation_batch_free(&b);
		}
		json_decref(sk);
		json_decref(doc);
	}
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		json_t *sk = activation_skeleton(none[i], strlen(none[i]));

		struct activation_batch c = { 0 };
		const char *why = "unset";

		if (sk)
			fprintf(stderr, "  a skeleton of %s\n", none[i]);
		CHECK(!sk);
		CHECK(activation_batch_add_text(&c, none[i], strlen(none[i]), &why) == -EINVAL);
		CHECK(!why && c.n == 0);
		activation_batch_free(&c);
		json_decref(sk);
	}
}

/* What was acknowledged is there after the store is closed and reopened. */
static void test_reopen(void)
{
	struct store *st = open_store();
	struct entity_rec rec, got;

	ASSERT(st);
	make_rec(&rec, ENTITY_PACKAGE, "ns4", "p", 7);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	entity_rec_clear(&rec);
	store_close(st);
	st = open_store();
	ASSERT(st);
	CHECK(st->ops->entity_get(st, "ns4/p", &got) == 0);
	CHECK(got.type == ENTITY_PACKAGE);
	entity_rec_clear(&got);
	store_close(st);
}

/* A begin that loses the write lock to another connection leaves no transaction behind:
 * the next begin really opens one, and its rollback undoes what it wrote. */
static void test_begin_under_contention(void)
{
	struct store *holder = open_store(), *st = open_store();
	struct entity_rec rec, got;

	ASSERT(holder && st);
	ASSERT(holder->ops->begin(holder) == 0);
	CHECK(st->ops->begin(st) < 0); /* after the busy timeout */
	CHECK(holder->ops->commit(holder) == 0);
	CHECK(st->ops->begin(st) == 0);
	make_rec(&rec, ENTITY_ACTION, "ns5", "undone", 1);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	st->ops->rollback(st);
	CHECK(st->ops->entity_get(st, "ns5/undone", &got) == -ENOENT);
	entity_rec_clear(&rec);
	store_close(st);
	store_close(holder);
}

/* A rolled-back transaction leaves nothing behind; a committed one everything. */
static void test_transactions(void)
{
	struct store *st = open_store();
	struct entity_rec rec, got;

	ASSERT(st);
	ASSERT(st->ops->begin(st) == 0);
	CHECK(st->ops->begin(st) == 0); /* nested: one transaction */
	make_rec(&rec, ENTITY_ACTION, "ns6", "gone", 1);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	CHECK(st->ops->commit(st) == 0);
	/* An expected conflict inside a transaction does not spoil it. */
	CHECK(st->ops->entity_put(st, &rec, 0) == -EEXIST);
	st->ops->rollback(st);
	CHECK(st->ops->entity_get(st, "ns6/gone", &got) == -ENOENT);
	entity_rec_clear(&rec);
	ASSERT(st->ops->begin(st) == 0);
	make_rec(&rec, ENTITY_ACTION, "ns6", "kept", 1);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	CHECK(st->ops->entity_put(st, &rec, 0) == -EEXIST);
	CHECK(st->ops->entity_put(st, &rec, 1) == 0);
	CHECK(st->ops->commit(st) == 0);
	CHECK(st->ops->entity_get(st, "ns6/kept", &got) == 0 && got.rev == 2);
	entity_rec_clear(&got);
	entity_rec_clear(&rec);
	store_close(st);
}

/* Two stores (two controllers) that read one revision: one update wins, the other is
 * stale; one create wins, the other finds it. */
static void test_two_writers(void)
{
	struct store *a = open_store(), *b = open_store();
	struct entity_rec ra, rb, got;

	ASSERT(a && b);
	make_rec(&ra, ENTITY_ACTION, "ns7", "x", 1);
	make_rec(&rb, ENTITY_ACTION, "ns7", "x", 2);
	CHECK(a->ops->entity_put(a, &ra, 0) == 0);
	CHECK(b->ops->entity_put(b, &rb, 0) == -EEXIST);
	CHECK(a->ops->entity_put(a, &ra, 1) == 0);
	CHECK(b->ops->entity_put(b, &rb, 1) == -ESTALE);
	CHECK(b->ops->entity_get(b, "ns7/x", &got) == 0 && got.rev == 2 && got.updated == 1);
	entity_rec_clear(&got);
	CHECK(b->ops->entity_delete(b, "ns7/x", 1) == -ESTALE);
	CHECK(b->ops->entity_delete(b, "ns7/x", 2) == 0);
	CHECK(a->ops->entity_put(a, &ra, 2) == -ESTALE);
	entity_rec_clear(&ra);
	entity_rec_clear(&rb);
	store_close(a);
	store_close(b);
}

/* A large document as the API makes it: 2 MB of code. */
static void make_large(struct entity_rec *rec, const char *name, char fill, int64_t updated)
{
	size_t n = 2u << 20;
	char *code = malloc(n + 1);

	memset(code, fill, n);
	code[n] = '\0';
	make_rec(rec, ENTITY_ACTION, "ns9", name, updated);
	json_object_set_new(rec->doc, "exec", json_pack("{s:s,s:s}", "kind", "nodejs:20", "code", code));
	free(code);
}

static char code_fill(const struct entity_rec *rec)
{
	const char *code = json_obj_str(json_object_get(rec->doc, "exec"), "code");

	return code ? code[0] : 0;
}

/* Issue 11, item 5: the loop's store keeps large parsed documents, and hands one out only
 * while the store holds its revision: a write through a second connection (the offload
 * thread's, another controller's), told by entity_put_elsewhere or not, is what the next
 * read sees, also after a delete and a create (revision 1 again); a copy changed by its
 * reader leaves the kept one alone; a delete and a rollback forget. */
static void test_doc_cache(void)
{
	struct store *raw = open_store(), *st = raw ? store_with_doc_cache(raw) : NULL;
	struct store *second = NULL, *other_st = NULL;
	struct entity_rec rec, other, got;
	char uri[512];

	ASSERT(st && st != raw);
	if (pg_uri)
		snprintf(uri, sizeof(uri), "%s", pg_uri);
	else
		snprintf(uri, sizeof(uri), "sqlite:%s/db", dbpath);
	ASSERT(store_open_second(uri, &second) == 0);
	/* No second connection can share these: the API writes on the loop then. */
	CHECK(store_open_second("", &other_st) == -EINVAL);
	CHECK(store_open_second("sqlite::memory:", &other_st) == -EINVAL);
	make_large(&rec, "big", 'a', 1);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == 0 && code_fill(&got) == 'a');
	/* The reader's copy is its own. */
	json_object_set_new(got.doc, "exec", json_null());
	entity_rec_clear(&got);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == 0 && code_fill(&got) == 'a');
	entity_rec_clear(&got);

	/* Written elsewhere, untold: the revision differs, the store's document is read. */
	make_large(&other, "big", 'b', 2);
	CHECK(second->ops->entity_put(second, &other, rec.rev) == 0);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == 0 && code_fill(&got) == 'b');
	CHECK(got.rev == other.rev);
	entity_rec_clear(&got);
	/* Told: kept as written. */
	entity_rec_clear(&rec);
	make_large(&rec, "big", 'c', 3);
	CHECK(second->ops->entity_put(second, &rec, other.rev) == 0);
	st->ops->entity_put_elsewhere(st, &rec);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == 0 && code_fill(&got) == 'c');
	entity_rec_clear(&got);

	/* Deleted and made again elsewhere: revision 1 again, another write time. */
	CHECK(second->ops->entity_delete(second, "ns9/big", rec.rev) == 0);
	entity_rec_clear(&other);
	make_large(&other, "big", 'd', 4);
	CHECK(second->ops->entity_put(second, &other, 0) == 0 && other.rev == 1);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == 0 && code_fill(&got) == 'd');
	entity_rec_clear(&got);
	entity_rec_clear(&rec);
	make_large(&rec, "big", 'e', 5);
	CHECK(second->ops->entity_delete(second, "ns9/big", 1) == 0);
	CHECK(second->ops->entity_put(second, &rec, 0) == 0 && rec.rev == 1);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == 0 && code_fill(&got) == 'e');
	entity_rec_clear(&got);

	CHECK(st->ops->entity_delete(st, "ns9/big", rec.rev) == 0);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == -ENOENT);
	/* A large write rolled back is not handed out. */
	CHECK(st->ops->begin(st) == 0);
	other.rev = 0;
	CHECK(st->ops->entity_put(st, &other, 0) == 0);
	st->ops->rollback(st);
	CHECK(st->ops->entity_get(st, "ns9/big", &got) == -ENOENT);
	entity_rec_clear(&rec);
	entity_rec_clear(&other);
	store_close(second);
	store_close(st);
}

static json_t *record_in(const char *ns, int i, int64_t start)
{
	char id[33];

	snprintf(id, sizeof(id), "%s%0*d", ns, (int)(32 - strlen(ns)), i);
	return json_pack("{s:s,s:s,s:s,s:I,s:I,s:{s:i,s:{}},s:[],s:[]}", "namespace", ns, "name",
			 "r", "activationId", id, "start", (json_int_t)start, "end",
			 (json_int_t)(start + 1), "response", "statusCode", 0, "result",
			 "annotations", "logs");
}

static int64_t count_in(struct store *st, const char *ns)
{
	struct activation_query q = { .namespace = ns };
	int64_t n = -1;

	return st->ops->activation_count(st, &q, &n) ? -1 : n;
}

/* Retention deletes in bounded batches, the oldest first, and spares namespaces that keep
 * their own period; a big batch (more rows than one INSERT takes) is stored whole. */
static void test_retention(void)
{
	struct store *st = open_store();
	const char *keep[] = { "ret2", "ns3" }; /* ns3: test_activations' records */
	json_t *recs[1200];
	int64_t n = 0, total = 0;

	ASSERT(st);
	for (int i = 0; i < 1200; i++)
		recs[i] = record_in(i % 2 ? "ret1" : "ret2", i, i < 1000 ? 1000 + i : 100000 + i);
	CHECK(put_docs(st, recs, 1200) == 0);
	CHECK(count_in(st, "ret1") == 600 && count_in(st, "ret2") == 600);
	/* Everything older than 50000 but ret2's, 100 at a time. */
	for (int i = 0; i < 20; i++) {
		CHECK(st->ops->activation_expire(st, NULL, 50000, keep, 2, 100, &n) == 0);
		CHECK(n <= 100);
		total += n;
		if (n < 100)
			break;
	}
	if (total != 500)
		fprintf(stderr, "  retention deleted %lld\n", (long long)total);
	CHECK(total == 500);
	CHECK(count_in(st, "ret1") == 100 && count_in(st, "ret2") == 600);
	/* ret2's own, shorter period. */
	CHECK(st->ops->activation_expire(st, "ret2", 1500, NULL, 0, 1000, &n) == 0 && n == 250);
	CHECK(count_in(st, "ret2") == 350);
	CHECK(st->ops->activation_expire(st, NULL, 50000, keep + 1, 1, 1000, &n) == 0 && n == 250);
	CHECK(count_in(st, "ret2") == 100);
	for (int i = 0; i < 1200; i++)
		json_decref(recs[i]);
	store_close(st);
}

static void test_retention_age(void)
{
	int64_t ms = -1;

	CHECK(retention_parse_age("7d", &ms) == 0 && ms == 7 * 86400000LL);
	CHECK(retention_parse_age("12h", &ms) == 0 && ms == 12 * 3600000LL);
	CHECK(retention_parse_age("30m", &ms) == 0 && ms == 30 * 60000LL);
	CHECK(retention_parse_age("90s", &ms) == 0 && ms == 90000);
	CHECK(retention_parse_age("90", &ms) == 0 && ms == 90000);
	CHECK(retention_parse_age("off", &ms) == 0 && ms == 0);
	CHECK(retention_parse_age("0", &ms) == 0 && ms == 0);
	CHECK(retention_parse_age("7w", &ms) == -EINVAL);
	CHECK(retention_parse_age("-1d", &ms) == -EINVAL);
	CHECK(retention_parse_age("1dd", &ms) == -EINVAL);
	CHECK(retention_parse_age("", &ms) == -EINVAL);
}

static int set_retention(struct store *st, const char *ns, int seconds)
{
	char pair[128];
	struct subject s;
	int err = auth_create_namespace(st, ns, NULL, pair);

	if (!err)
		err = st->ops->subject_get(st, ns, &s);
	if (err)
		return err;
	json_object_set_new(s.limits, RETENTION_LIMIT_KEY, json_integer(seconds));
	err = st->ops->subject_put(st, &s, false);
	subject_clear(&s);
	return err;
}

/* The policy: the default period, a namespace's shorter one, a namespace that keeps its
 * records; passes of bounded batches until nothing is left to do. */
static void test_retention_policy(void)
{
	struct store *st = open_store();
	int64_t now = 10 * 86400000LL, deleted, total = 0;
	json_t *recs[6];
	bool more = true;

	ASSERT(st);
	ASSERT(set_retention(st, "rp2", 10) == 0);
	ASSERT(set_retention(st, "rp3", 0) == 0);
	recs[0] = record_in("rp1", 1, now - 100000);
	recs[1] = record_in("rp1", 2, now - 1000);
	recs[2] = record_in("rp2", 1, now - 30000);
	recs[3] = record_in("rp2", 2, now - 1000);
	recs[4] = record_in("rp3", 1, now - 100000);
	recs[5] = record_in("rp3", 2, now - 1000);
	CHECK(put_docs(st, recs, 6) == 0);
	for (int i = 0; i < 100 && more; i++) {
		CHECK(retention_step(st, 60000, now, &deleted, &more) == 0);
		total += deleted;
	}
	CHECK(!more && total >= 2);
	CHECK(count_in(st, "rp1") == 1 && count_in(st, "rp2") == 1 && count_in(st, "rp3") == 2);
	/* Without a default only the namespaces with a period of their own lose records. */
	recs[0] = (json_decref(recs[0]), record_in("rp1", 3, now - 100000));
	recs[2] = (json_decref(recs[2]), record_in("rp2", 3, now - 30000));
	CHECK(put_docs(st, recs, 3) == 0);
	CHECK(retention_step(st, 0, now, &deleted, &more) == 0 && deleted == 1);
	CHECK(count_in(st, "rp1") == 2 && count_in(st, "rp2") == 1);
	for (int i = 0; i < 6; i++)
		json_decref(recs[i]);
	store_close(st);
}

struct seen {
	int n;
	char what[16][300];
};

static void on_change(const struct store_change *c, void *data)
{
	struct seen *s = data;

	if (s->n < 16)
		snprintf(s->what[s->n++], sizeof(s->what[0]), "%s %s %d", c->op, c->docid, c->type);
}

/* Waits up to 2 s for changes on st's feed; returns how many arrived. */
static int read_changes(struct store *st, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 40; i++) {
		st->ops->changes_read(st, on_change, s);
		if (s->n)
			break;
		usleep(50 * 1000);
	}
	usleep(100 * 1000); /* and whatever follows close behind */
	st->ops->changes_read(st, on_change, s);
	return s->n;
}

/* PostgreSQL: one controller hears the entity writes another made (committed ones only,
 * not its own), and after its feed was cut, what was updated meanwhile. */
static void test_pg_changes(void)
{
	struct store *a = open_store(), *b = open_store();
	struct entity_rec rec;
	struct seen seen;

	ASSERT(a && b && b->ops->changes_fd && b->ops->changes_fd(b) >= 0);
	make_rec(&rec, ENTITY_TRIGGER, "ns9", "t", 1);
	CHECK(a->ops->entity_put(a, &rec, 0) == 0);
	CHECK(read_changes(b, &seen) == 1);
	CHECK_STR(seen.what[0], "put ns9/t 2");
	CHECK(read_changes(a, &seen) == 0); /* its own write */
	/* Rolled back: nobody hears of it. */
	CHECK(a->ops->begin(a) == 0);
	CHECK(a->ops->entity_put(a, &rec, 1) == 0);
	a->ops->rollback(a);
	CHECK(read_changes(b, &seen) == 0);
	CHECK(a->ops->entity_delete(a, "ns9/t", 1) == 0);
	CHECK(read_changes(b, &seen) == 1);
	CHECK_STR(seen.what[0], "delete ns9/t -1");
	/* The feed cut (every xwhisk connection ends; a's reconnect within the call). */
	CHECK(pg_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		     "WHERE application_name = 'xwhisk'") == 0);
	usleep(100 * 1000);
	rec.rev = 0;
	CHECK(a->ops->entity_put(a, &rec, 0) == 0);
	CHECK(a->ops->entity_put(a, &rec, 1) == 0);
	CHECK(a->ops->entity_delete(a, "ns9/t", 2) == 0);
	/* b finds its feed cut (the server's goodbye and the end of the stream may take two
	 * reads, as the loop would do on a readable descriptor). */
	{
		int cut = 0;

		for (int i = 0; i < 5 && !cut; i++)
			cut = b->ops->changes_read(b, on_change, &seen) < 0;
		CHECK(cut && b->ops->changes_fd(b) < 0);
	}
	/* What was written meanwhile is replayed in order, the delete included. */
	CHECK(read_changes(b, &seen) >= 3);
	CHECK_STR(seen.what[seen.n - 3], "put ns9/t 2");
	CHECK_STR(seen.what[seen.n - 2], "put ns9/t 2");
	CHECK_STR(seen.what[seen.n - 1], "delete ns9/t -1");
	CHECK(b->ops->changes_fd(b) >= 0);
	/* And live again. */
	CHECK(a->ops->entity_put(a, &rec, 0) == 0);
	CHECK(read_changes(b, &seen) == 1);
	CHECK_STR(seen.what[0], "put ns9/t 2");
	entity_rec_clear(&rec);
	store_close(a);
	store_close(b);
}

/* PostgreSQL: controllers that start together migrate the schema once. */
static void test_pg_concurrent_migrations(void)
{
	pid_t pids[4];
	int ok = 0;

	ASSERT(pg_reset() == 0);
	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			struct store *st = open_store();

			_exit(st ? 0 : 1);
		}
	}
	for (int i = 0; i < 4; i++) {
		int status;

		if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			ok++;
	}
	CHECK(ok == 4);
	/* Each version recorded once: as many rows as the newest version. */
	CHECK(pg_long("SELECT max(version) FROM xwhisk_schema") >= 2);
	CHECK(pg_long("SELECT count(*) - max(version) FROM xwhisk_schema") == 0);
}

/* PostgreSQL: a connection the server dropped is re-established within the call. */
static void test_pg_reconnect(void)
{
	struct store *st = open_store();
	struct entity_rec rec, got;

	ASSERT(st);
	make_rec(&rec, ENTITY_ACTION, "ns8", "a", 1);
	CHECK(st->ops->entity_put(st, &rec, 0) == 0);
	CHECK(pg_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		     "WHERE application_name = 'xwhisk'") == 0);
	CHECK(st->ops->entity_get(st, "ns8/a", &got) == 0);
	entity_rec_clear(&got);
	/* Inside a transaction the loss is the caller's to see, and the next one works. */
	CHECK(st->ops->begin(st) == 0);
	CHECK(pg_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		     "WHERE application_name = 'xwhisk'") == 0);
	CHECK(st->ops->entity_put(st, &rec, 1) == -ECONNREFUSED);
	st->ops->rollback(st);
	CHECK(st->ops->entity_put(st, &rec, 1) == 0);
	/* Lost before COMMIT: the commit fails (it is not re-sent on a new connection, where it
	 * would "succeed"), and what the transaction wrote is not there. */
	CHECK(st->ops->begin(st) == 0);
	CHECK(st->ops->entity_put(st, &rec, 2) == 0);
	CHECK(pg_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		     "WHERE application_name = 'xwhisk'") == 0);
	CHECK(st->ops->commit(st) == -ECONNREFUSED);
	CHECK(st->ops->entity_get(st, "ns8/a", &got) == 0 && got.rev == 2);
	entity_rec_clear(&got);
	entity_rec_clear(&rec);
	store_close(st);
}

/* PostgreSQL: a server that is down answers -ECONNREFUSED in bounded time, and is used
 * again once it is back. Needs XWHISK_TEST_PGTMP (tests/pg/pgtmp.sh) to stop it. */
static void test_pg_server_down(void)
{
	const char *pgtmp = getenv("XWHISK_TEST_PGTMP");
	struct store *st = open_store();
	struct entity_rec got;
	char cmd[1024];
	uint64_t t0, took;

	ASSERT(st);
	if (!pgtmp) {
		fprintf(stderr, "  skipped: XWHISK_TEST_PGTMP is not set\n");
		store_close(st);
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s down '%s'", pgtmp, pg_uri);
	CHECK(system(cmd) == 0);
	t0 = clock_mono_ms();
	CHECK(st->ops->entity_get(st, "ns8/a", &got) == -ECONNREFUSED);
	took = clock_mono_ms() - t0;
	CHECK(took < 5000);
	/* Recently found down: the next call does not wait again. */
	t0 = clock_mono_ms();
	CHECK(st->ops->entity_get(st, "ns8/a", &got) == -ECONNREFUSED);
	CHECK(clock_mono_ms() - t0 < 100);
	snprintf(cmd, sizeof(cmd), "%s up '%s'", pgtmp, pg_uri);
	CHECK(system(cmd) == 0);
	usleep(1100 * 1000);
	CHECK(st->ops->entity_get(st, "ns8/a", &got) == 0);
	entity_rec_clear(&got);
	store_close(st);
}

/* PostgreSQL: a server that takes connections but does not answer them (its postmaster
 * stopped: as behind a network that drops packets) holds a call only for the short wait
 * of a reconnection, later calls not at all, and the reconnection completes once it
 * answers again. Needs XWHISK_TEST_PGTMP. */
static void test_pg_reconnect_silent(void)
{
	const char *pgtmp = getenv("XWHISK_TEST_PGTMP");
	struct store *st = open_store();
	struct entity_rec got;
	char cmd[1024];
	uint64_t t0;
	int err = -1;

	ASSERT(st);
	if (!pgtmp) {
		fprintf(stderr, "  skipped: XWHISK_TEST_PGTMP is not set\n");
		store_close(st);
		return;
	}
	CHECK(pg_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		     "WHERE application_name = 'xwhisk'") == 0);
	snprintf(cmd, sizeof(cmd), "%s freeze '%s'", pgtmp, pg_uri);
	CHECK(system(cmd) == 0);
	t0 = clock_mono_ms();
	CHECK(st->ops->entity_get(st, "ns8/a", &got) == -ECONNREFUSED);
	CHECK(clock_mono_ms() - t0 < 1000); /* was connect_timeout, 2 s, and more */
	t0 = clock_mono_ms();
	CHECK(st->ops->entity_get(st, "ns8/a", &got) == -ECONNREFUSED);
	CHECK(clock_mono_ms() - t0 < 100);
	snprintf(cmd, sizeof(cmd), "%s thaw '%s'", pgtmp, pg_uri);
	CHECK(system(cmd) == 0);
	for (int i = 0; i < 50 && err; i++) {
		err = st->ops->entity_get(st, "ns8/a", &got);
		if (err)
			usleep(100 * 1000);
	}
	CHECK(err == 0);
	if (!err)
		entity_rec_clear(&got);
	store_close(st);
}

static int elected[2], lost[2];

static void on_elected(void *data)
{
	elected[(intptr_t)data]++;
}

static void on_lost(void *data)
{
	lost[(intptr_t)data]++;
}

static void stop_loop(struct loop *loop, void *data)
{
	loop_stop(loop);
}

/* Runs the loop for ms, or until *until is true. */
static void spin(struct loop *loop, unsigned ms, bool (*until)(void))
{
	uint64_t end = clock_mono_ms() + ms;

	while (clock_mono_ms() < end && !(until && until())) {
		loop_timer_add(loop, 20, stop_loop, NULL);
		loop_run(loop);
	}
}

static bool b_leads(void)
{
	return elected[1] > lost[1];
}

static bool a_lost(void)
{
	return lost[0] > 0;
}

/* PostgreSQL: the leader's advisory lock. A lone candidate leads from its start; a second
 * one waits; the leader whose session the server ended stops leading at once (it no longer
 * holds the lock); a leader that stops hands over at the other's next round. */
static void test_pg_leader(void)
{
	struct loop *loop = loop_new();
	struct leader *a, *b;
	uint64_t t0;

	ASSERT(loop);
	a = pg_leader_start(loop, pg_uri, "a", 200, on_elected, on_lost, (void *)0);
	CHECK(a && elected[0] == 1);
	b = pg_leader_start(loop, pg_uri, "b", 200, on_elected, on_lost, (void *)1);
	CHECK(b && elected[1] == 0);
	spin(loop, 600, NULL);
	CHECK(elected[1] == 0 && lost[0] == 0);
	/* a's session ended by the server (b's too: whoever wins next, a stepped down) */
	CHECK(pg_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		     "WHERE application_name = 'xwhisk-leader'") == 0);
	t0 = clock_mono_ms();
	spin(loop, 3000, a_lost);
	CHECK(lost[0] == 1 && clock_mono_ms() - t0 < 1500); /* the hold is 3 s */
	spin(loop, 2000, NULL);
	CHECK(elected[0] - lost[0] + elected[1] - lost[1] == 1); /* one of them leads again */
	if (elected[0] > lost[0]) {
		leader_stop(a);
		a = NULL;
		t0 = clock_mono_ms();
		spin(loop, 3000, b_leads);
		CHECK(b_leads() && clock_mono_ms() - t0 < 1500);
	}
	leader_stop(a);
	leader_stop(b);
	loop_free(loop);
}

/* Which URIs name PostgreSQL, and what a log shows of them. */
static void test_uri(void)
{
	char buf[256];

	CHECK(store_uri_is_pg("postgresql://u@h/db") && store_uri_is_pg("postgres://h/db"));
	CHECK(store_uri_is_pg("host=/run/postgresql dbname=x") && store_uri_is_pg("dbname = x"));
	CHECK(!store_uri_is_pg("sqlite:/tmp/a=b") && !store_uri_is_pg("/tmp/x.db"));
	store_uri_redact("postgresql://u:secret@h:5432/db?sslmode=require", buf, sizeof(buf));
	CHECK_STR(buf, "postgresql://u:***@h:5432/db?sslmode=require");
	store_uri_redact("host=h password=secret dbname=x", buf, sizeof(buf));
	CHECK_STR(buf, "host=h password=*** dbname=x");
	store_uri_redact("postgresql://u@h/db?password=secret&x=1", buf, sizeof(buf));
	CHECK_STR(buf, "postgresql://u@h/db?password=***&x=1");
	/* A quoted password, with a space and an escaped quote: none of it is left. */
	store_uri_redact("host=h password='a b\\'c' dbname=x", buf, sizeof(buf));
	CHECK_STR(buf, "host=h password=*** dbname=x");
	store_uri_redact("sqlite:/tmp/x.db", buf, sizeof(buf));
	CHECK_STR(buf, "sqlite:/tmp/x.db");
}

int main(void)
{
	char cmd[128];

	pg_uri = getenv("XWHISK_TEST_STORE");
	if (pg_uri && !*pg_uri)
		pg_uri = NULL;
	if (pg_uri && (!store_uri_is_pg(pg_uri) || pg_reset())) {
		printf("not ok - XWHISK_TEST_STORE=%s is not a usable PostgreSQL server\n", pg_uri);
		return 1;
	}
	if (!mkdtemp(dbpath)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	RUN(test_uri);
	RUN(test_entity_revisions);
	RUN(test_entity_listing);
	RUN(test_subjects);
	RUN(test_subnet_plan);
	RUN(test_node_subnets);
	RUN(test_activations);
	RUN(test_activation_text);
	RUN(test_activation_row_text);
	RUN(test_activation_skeleton);
	RUN(test_reopen);
	RUN(test_transactions);
	RUN(test_two_writers);
	RUN(test_doc_cache);
	RUN(test_retention);
	RUN(test_retention_age);
	RUN(test_retention_policy);
	if (!pg_uri) {
		/* SQLite's BEGIN IMMEDIATE takes the write lock; PostgreSQL's BEGIN takes none. */
		RUN(test_begin_under_contention);
	} else {
		RUN(test_pg_concurrent_migrations);
		RUN(test_pg_reconnect);
		RUN(test_pg_changes);
		RUN(test_pg_server_down);
		RUN(test_pg_reconnect_silent);
		RUN(test_pg_leader);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dbpath);
	(void)!system(cmd);
	TEST_EXIT();
}
