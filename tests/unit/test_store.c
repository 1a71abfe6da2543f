// SPDX-License-Identifier: Apache-2.0
/* The SQLite store: entities with revisions, listing, subjects, activations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "json.h"
#include "store.h"
#include "test.h"

static char dbpath[] = "/tmp/xwhisk-test-store-XXXXXX";

static struct store *open_store(void)
{
	struct store *st = NULL;
	char uri[128];

	snprintf(uri, sizeof(uri), "sqlite:%s/db", dbpath);
	return store_open(uri, &st) ? NULL : st;
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
	CHECK(st->ops->activation_put(st, recs, 3) == 0);
	/* Resending a batch stores nothing twice. */
	CHECK(st->ops->activation_put(st, recs, 3) == 0);
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

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dbpath)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	RUN(test_entity_revisions);
	RUN(test_entity_listing);
	RUN(test_subjects);
	RUN(test_activations);
	RUN(test_reopen);
	RUN(test_begin_under_contention);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dbpath);
	(void)!system(cmd);
	TEST_EXIT();
}
