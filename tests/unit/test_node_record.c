// SPDX-License-Identifier: Apache-2.0
/* Records of this node's activations: OpenWhisk's stored form, as the controller accepts it. */
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "json.h"
#include "node/activation/record.h"
#include "test.h"

static struct action_entry *action(void)
{
	json_t *doc = json_loads("{\"docid\":\"alice/pkg/hello\",\"path\":\"alice/pkg\","
				 "\"name\":\"hello\",\"version\":\"0.0.3\",\"revision\":3,"
				 "\"exec\":{\"kind\":\"nodejs:20\"},"
				 "\"limits\":{\"timeout\":5000,\"memory\":128,\"logs\":10}}",
				 0, NULL);
	struct action_entry *e = action_entry_new("alice", "/alice/pkg/hello", doc);

	json_decref(doc);
	return e;
}

static const char *ann(const json_t *rec, const char *key)
{
	static char text[128];
	json_t *v = json_kv_get(json_object_get(rec, "annotations"), key);
	char *d = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;

	snprintf(text, sizeof(text), "%s", d ? d : "(none)");
	free(d);
	return text;
}

static void invocation_init(struct invocation *inv, struct action_entry *a)
{
	memset(inv, 0, sizeof(*inv));
	inv->action = a;
	snprintf(inv->who.ns, sizeof(inv->who.ns), "bob");
	snprintf(inv->activation_id, sizeof(inv->activation_id), "%032x", 7);
	inv->received_ms = 1000;
	inv->start_ms = 1004;
	inv->end_ms = 1010;
	inv->status = ACTIVATION_SUCCESS;
	inv->result = json_pack("{s:i}", "n", 1);
	inv->result_size = 7;
}

static void test_warm(void)
{
	struct action_entry *a = action();
	struct invocation inv;
	json_t *rec;

	ASSERT(a);
	invocation_init(&inv, a);
	rec = record_of_invocation(&inv);
	CHECK(activation_check(rec) == NULL);
	CHECK_STR(json_obj_str(rec, "namespace"), "bob"); /* the caller's, not the owner's */
	CHECK_STR(json_obj_str(rec, "name"), "hello");
	CHECK(json_integer_value(json_object_get(rec, "start")) == 1004);
	CHECK(json_integer_value(json_object_get(rec, "duration")) == 6);
	CHECK(json_integer_value(json_object_get(json_object_get(rec, "response"), "size")) == 7);
	CHECK_STR(ann(rec, "path"), "\"alice/pkg/hello\"");
	CHECK_STR(ann(rec, "kind"), "\"nodejs:20\"");
	CHECK_STR(ann(rec, "waitTime"), "4");
	CHECK_STR(ann(rec, "timeout"), "false");
	CHECK_STR(ann(rec, "initTime"), "(none)");
	CHECK(!json_object_get(rec, "cause"));
	json_decref(rec);
	json_decref(inv.result);
	action_entry_unref(a);
}

/* A cold start begins with /init (OpenWhisk's count); waitTime is what came before it. */
static void test_cold_component(void)
{
	struct action_entry *a = action();
	struct invocation inv;
	json_t *rec;

	ASSERT(a);
	invocation_init(&inv, a);
	inv.cold = true;
	inv.init_ms = 3;
	inv.timed_out = true;
	inv.sequence_component = true;
	snprintf(inv.cause, sizeof(inv.cause), "%032x", 9);
	rec = record_of_invocation(&inv);
	CHECK(activation_check(rec) == NULL);
	CHECK(json_integer_value(json_object_get(rec, "start")) == 1001);
	CHECK(json_integer_value(json_object_get(rec, "duration")) == 9);
	CHECK_STR(ann(rec, "initTime"), "3");
	CHECK_STR(ann(rec, "waitTime"), "1");
	CHECK_STR(ann(rec, "timeout"), "true");
	CHECK_STR(ann(rec, "causedBy"), "\"sequence\"");
	CHECK_STR(json_obj_str(rec, "cause"), inv.cause);
	json_decref(rec);
	json_decref(inv.result);
	action_entry_unref(a);
}

static void test_interrupted(void)
{
	struct action_entry *a = action();
	struct identity who = { .ns = "carol" };
	json_t *rec;

	ASSERT(a);
	rec = record_interrupted(a, &who, "0123456789abcdef0123456789abcdef", 5000, "sequence");
	CHECK(activation_check(rec) == NULL);
	CHECK(json_integer_value(json_object_get(json_object_get(rec, "response"),
						 "statusCode")) == ACTIVATION_WHISK_ERROR);
	CHECK_STR(ann(rec, "kind"), "\"sequence\"");
	CHECK(strstr(json_obj_str(json_object_get(json_object_get(rec, "response"), "result"),
				  "error") ?: "",
		     "interrupted") != NULL);
	json_decref(rec);
	action_entry_unref(a);
}

int main(void)
{
	RUN(test_warm);
	RUN(test_cold_component);
	RUN(test_interrupted);
	TEST_EXIT();
}
