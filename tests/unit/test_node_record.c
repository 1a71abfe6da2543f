// SPDX-License-Identifier: Apache-2.0
/* Records of this node's activations: OpenWhisk's stored form, as the controller accepts it,
 * written by json_write.h byte for byte as the jansson trees they replaced were dumped (the
 * expected texts are those trees' dumps, taken before the change). */
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "json.h"
#include "node/activation/cached_result.h"
#include "node/activation/invocation.h"
#include "node/activation/record.h"
#include "node/activation/run_answer.h"
#include "test.h"

/* What the old tree-built records were, for the same activations. */
static const char WARM[] =
		"{\"namespace\":\"bob\",\"name\":\"hello\",\"subject\":\"bob\",\"activationId\":\""
		"00000000000000000000000000000007\",\"start\":1004,\"end\":1010,\"duration\":6,\"r"
		"esponse\":{\"statusCode\":0,\"result\":{\"n\":1},\"size\":7},\"logs\":[],\"annota"
		"tions\":[{\"key\":\"path\",\"value\":\"alice/pkg/hello\"},{\"key\":\"kind\",\"val"
		"ue\":\"nodejs:20\"},{\"key\":\"limits\",\"value\":{\"timeout\":5000,\"memory\":12"
		"8,\"logs\":10}},{\"key\":\"timeout\",\"value\":false},{\"key\":\"waitTime\",\"val"
		"ue\":4}],\"version\":\"0.0.3\",\"publish\":false}";
static const char COLD_COMPONENT[] =
		"{\"namespace\":\"bob\",\"name\":\"hello\",\"subject\":\"bob\",\"activationId\":\""
		"00000000000000000000000000000007\",\"start\":1001,\"end\":1010,\"duration\":9,\"r"
		"esponse\":{\"statusCode\":0,\"result\":{\"n\":1},\"size\":7},\"logs\":[\"2026-12-"
		"03T00:00:00Z stdout: hi\",\"tab\\there \\\"q\\\"\"],\"annotations\":[{\"key\":\"p"
		"ath\",\"value\":\"alice/pkg/hello\"},{\"key\":\"kind\",\"value\":\"nodejs:20\"},{"
		"\"key\":\"limits\",\"value\":{\"timeout\":5000,\"memory\":128,\"logs\":10}},{\"ke"
		"y\":\"timeout\",\"value\":true},{\"key\":\"waitTime\",\"value\":1},{\"key\":\"ini"
		"tTime\",\"value\":3},{\"key\":\"causedBy\",\"value\":\"sequence\"}],\"version\":\""
		"0.0.3\",\"publish\":false,\"cause\":\"00000000000000000000000000000009\"}";
static const char ERROR[] =
		"{\"namespace\":\"bob\",\"name\":\"hello\",\"subject\":\"bob\",\"activationId\":\""
		"00000000000000000000000000000007\",\"start\":1004,\"end\":1010,\"duration\":6,\"r"
		"esponse\":{\"statusCode\":2,\"result\":{\"error\":\"bad \xef""\xbf""\xbd""\\u0001"
		" \\\"q\\\" \\\\ \xc3""\xa9"" \\u0000 end\"}},\"logs\":[],\"annotations\":[{\"key\""
		":\"path\",\"value\":\"alice/pkg/hello\"},{\"key\":\"kind\",\"value\":\"nodejs:20\""
		"},{\"key\":\"limits\",\"value\":{}},{\"key\":\"binding\",\"value\":\"carol/shared"
		"\"},{\"key\":\"timeout\",\"value\":false},{\"key\":\"waitTime\",\"value\":4}],\"v"
		"ersion\":\"0.0.3\",\"publish\":false}";
static const char NO_RESULT[] =
		"{\"namespace\":\"bob\",\"name\":\"hello\",\"subject\":\"bob\",\"activationId\":\""
		"00000000000000000000000000000007\",\"start\":1004,\"end\":1010,\"duration\":6,\"r"
		"esponse\":{\"statusCode\":2,\"result\":{}},\"logs\":[],\"annotations\":[{\"key\":"
		"\"path\",\"value\":\"alice/pkg/hello\"},{\"key\":\"kind\",\"value\":\"nodejs:20\""
		"},{\"key\":\"limits\",\"value\":{}},{\"key\":\"binding\",\"value\":\"carol/shared"
		"\"},{\"key\":\"timeout\",\"value\":false},{\"key\":\"waitTime\",\"value\":4}],\"v"
		"ersion\":\"0.0.3\",\"publish\":false}";
static const char INTERRUPTED_SEQUENCE[] =
		"{\"namespace\":\"carol\",\"name\":\"hello\",\"subject\":\"carol\",\"activationId\""
		":\"0123456789abcdef0123456789abcdef\",\"start\":5000,\"end\":5000,\"duration\":0,"
		"\"response\":{\"statusCode\":3,\"result\":{\"error\":\"The activation was interru"
		"pted: its node stopped before it ended.\"}},\"logs\":[],\"annotations\":[{\"key\""
		":\"path\",\"value\":\"alice/pkg/hello\"},{\"key\":\"kind\",\"value\":\"sequence\""
		"},{\"key\":\"limits\",\"value\":{\"timeout\":5000,\"memory\":128,\"logs\":10}}],\""
		"version\":\"0.0.3\",\"publish\":false}";
static const char INTERRUPTED[] =
		"{\"namespace\":\"carol\",\"name\":\"hello\",\"subject\":\"carol\",\"activationId\""
		":\"0123456789abcdef0123456789abcdef\",\"start\":5000,\"end\":5000,\"duration\":0,"
		"\"response\":{\"statusCode\":3,\"result\":{\"error\":\"The activation was interru"
		"pted: its node stopped before it ended.\"}},\"logs\":[],\"annotations\":[{\"key\""
		":\"path\",\"value\":\"alice/pkg/hello\"},{\"key\":\"kind\",\"value\":\"nodejs:20\""
		"},{\"key\":\"limits\",\"value\":{}},{\"key\":\"binding\",\"value\":\"carol/shared"
		"\"}],\"version\":\"0.0.3\",\"publish\":false}";
static const char CACHED[] =
		"{\"namespace\":\"carol\",\"name\":\"hello\",\"subject\":\"carol\",\"activationId\""
		":\"0123456789abcdef0123456789abcdef\",\"start\":1000,\"end\":1002,\"duration\":2,"
		"\"response\":{\"statusCode\":0,\"result\":{\"a\":[1,2.5,\"x\"],\"b\":null}},\"log"
		"s\":[],\"annotations\":[{\"key\":\"path\",\"value\":\"alice/pkg/hello\"},{\"key\""
		":\"kind\",\"value\":\"nodejs:20\"},{\"key\":\"limits\",\"value\":{\"timeout\":500"
		"0,\"memory\":128,\"logs\":10}},{\"key\":\"timeout\",\"value\":false},{\"key\":\"w"
		"aitTime\",\"value\":0},{\"key\":\"cached\",\"value\":true}],\"version\":\"0.0.3\""
		",\"publish\":false}";

static struct action_entry *action(const char *extra)
{
	char text[1024];
	json_t *doc;
	struct action_entry *e;

	snprintf(text, sizeof(text),
		 "{\"docid\":\"alice/pkg/hello\",\"path\":\"alice/pkg\",\"name\":\"hello\","
		 "\"version\":\"0.0.3\",\"revision\":3,\"exec\":{\"kind\":\"nodejs:20\"}%s}",
		 extra);
	doc = json_loads(text, 0, NULL);
	e = action_entry_new("alice", "/alice/pkg/hello", doc);
	json_decref(doc);
	return e;
}

static struct action_entry *limited(void)
{
	return action(",\"limits\":{\"timeout\":5000,\"memory\":128,\"logs\":10}");
}

static struct action_entry *bound(void)
{
	return action(",\"binding\":\"carol/shared\"");
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

/* The extended form written from the text is what activation_extended makes of the tree. */
static bool extended_as_tree(struct record *r)
{
	json_t *ext = record_tree(r) ? activation_extended(record_tree(r)) : NULL;
	char *want = ext ? json_dumps(ext, JSON_COMPACT) : NULL;
	struct buf got = BUF_INIT;
	bool same = want && !record_write_extended(r, &got) && got.len == strlen(want) &&
		    !memcmp(got.data, want, got.len);

	if (!same)
		fprintf(stderr, "  got  %.*s\n  want %s\n", (int)got.len, got.data ?: "",
			want ?: "");
	buf_free(&got);
	free(want);
	json_decref(ext);
	return same;
}

/* The record's text is want, byte for byte, the controller would take it, and its
 * extended form is the API's. */
static bool written_as(struct record *r, const char *want)
{
	if (r->text.len != strlen(want) || memcmp(r->text.data, want, r->text.len)) {
		fprintf(stderr, "  got  %.*s\n  want %s\n", (int)r->text.len,
			r->text.data ?: "", want);
		return false;
	}
	return record_tree(r) && activation_check(record_tree(r)) == NULL && extended_as_tree(r);
}

static bool result_is(const struct record *r, const char *want)
{
	return r->result_len == strlen(want) &&
	       !memcmp(r->text.data + r->result_off, want, r->result_len);
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
	struct action_entry *a = limited();
	struct invocation inv;
	struct record rec = { 0 };
	const json_t *tree;

	ASSERT(a);
	invocation_init(&inv, a);
	CHECK(record_of_invocation(&inv, &rec) == 0);
	CHECK(written_as(&rec, WARM));
	tree = record_tree(&rec);
	CHECK_STR(json_obj_str(tree, "namespace"), "bob"); /* the caller's, not the owner's */
	CHECK_STR(ann(tree, "waitTime"), "4");
	CHECK_STR(ann(tree, "initTime"), "(none)");
	/* What listeners read without a tree. */
	CHECK_STR(rec.activation_id, inv.activation_id);
	CHECK(rec.status == ACTIVATION_SUCCESS && rec.duration_ms == 6);
	CHECK(result_is(&rec, "{\"n\":1}"));
	CHECK(json_integer_value(json_object_get(record_result(&rec), "n")) == 1);
	record_clear(&rec);
	json_decref(inv.result);
	action_entry_unref(a);
}

/* A cold start begins with /init (OpenWhisk's count); waitTime is what came before it. */
static void test_cold_component(void)
{
	struct action_entry *a = limited();
	struct invocation inv;
	struct record rec = { 0 };

	ASSERT(a);
	invocation_init(&inv, a);
	inv.logs = json_pack("[s,s]", "2026-12-03T00:00:00Z stdout: hi", "tab\there \"q\"");
	inv.cold = true;
	inv.init_ms = 3;
	inv.timed_out = true;
	snprintf(inv.cause, sizeof(inv.cause), "%032x", 9);
	CHECK(record_of_invocation(&inv, &rec) == 0);
	CHECK(written_as(&rec, COLD_COMPONENT));
	CHECK_STR(ann(record_tree(&rec), "initTime"), "3");
	CHECK(rec.duration_ms == 9);
	record_clear(&rec);
	json_decref(inv.logs);
	json_decref(inv.result);
	action_entry_unref(a);
}

/* An error quoting what an action answered: invalid UTF-8, controls, NUL; a binding. */
static void test_error(void)
{
	struct action_entry *a = bound();
	struct invocation inv;
	struct record rec = { 0 };

	ASSERT(a);
	invocation_init(&inv, a);
	json_decref(inv.result);
	inv.status = ACTIVATION_DEVELOPER_ERROR;
	inv.result = record_error_n("bad \xff\x01 \"q\" \\ \xc3\xa9 \x00 end", 21);
	inv.result_size = 0;
	CHECK(record_of_invocation(&inv, &rec) == 0);
	CHECK(written_as(&rec, ERROR));
	json_decref(inv.result);
	inv.result = NULL;
	CHECK(record_of_invocation(&inv, &rec) == 0);
	CHECK(written_as(&rec, NO_RESULT));
	CHECK(result_is(&rec, "{}"));
	record_clear(&rec);
	action_entry_unref(a);
}

/* A record the controller takes, whose extended form reads as the API's (the same
 * value: a result kept as text keeps its own spacing). */
static bool reads_as_tree(struct record *r)
{
	json_t *ext = record_tree(r) ? activation_extended(record_tree(r)) : NULL;
	struct buf got = BUF_INIT;
	json_t *back = NULL;
	bool same;

	if (ext && !record_write_extended(r, &got))
		back = json_parse(got.data, got.len, NULL, 0);
	same = back && !activation_check(record_tree(r)) && json_equal(back, ext);
	buf_free(&got);
	json_decref(back);
	json_decref(ext);
	return same;
}

/* A /run answer kept as its text (no tree) makes the record the tree would, with the
 * answer's own bytes as its result; answers it cannot read in place take the tree. */
static void test_answer_as_text(void)
{
	static const struct {
		int http;
		const char *body;
		bool as_text;
		int status;
		const char *result; /* in the record, when the action's own */
	} cases[] = {
		{ 200, "{\"n\":1}", true, ACTIVATION_SUCCESS, "{\"n\":1}" },
		{ 200, "{\"a\": [1, 2], \"b\" : {}}", true, ACTIVATION_SUCCESS,
		  "{\"a\": [1, 2], \"b\" : {}}" },
		{ 200, "[1,\"x\"]", true, ACTIVATION_SUCCESS, "[1,\"x\"]" },
		{ 200, "{\"n\":1,\"error\":\"no\"}", true, ACTIVATION_APPLICATION_ERROR,
		  "{\"n\":1,\"error\":\"no\"}" },
		/* a key spelled with an escape may be "error": the tree reads it */
		{ 200, "{\"\\u0065rror\":1}", false, ACTIVATION_APPLICATION_ERROR, "{\"error\":1}" },
		/* not one line: the tree, written compact */
		{ 200, "{\n\"n\":1\n}", false, ACTIVATION_SUCCESS, "{\"n\":1}" },
		/* a wish to the platform: the tree, which takes it out */
		{ 200, "{\"__ow_cache\":{\"ttl\":5},\"n\":1}", false, ACTIVATION_SUCCESS,
		  "{\"n\":1}" },
		{ 502, "{\"error\":\"boom\"}", false, ACTIVATION_DEVELOPER_ERROR,
		  "{\"error\":\"boom\"}" },
		/* spaces before the value: the tree; after it: kept, they are on the line */
		{ 200, " {\"n\":1}", false, ACTIVATION_SUCCESS, "{\"n\":1}" },
		{ 200, "{\"n\":1} ", true, ACTIVATION_SUCCESS, "{\"n\":1} " },
		{ 200, "[{\"error\":1}]", true, ACTIVATION_SUCCESS, "[{\"error\":1}]" },
		{ 200, "{\"n\":1}\r", false, ACTIVATION_SUCCESS, "{\"n\":1}" },
		{ 200, "{\"n\":", false, ACTIVATION_DEVELOPER_ERROR, NULL },
		{ 200, "\"text\"", false, ACTIVATION_DEVELOPER_ERROR, NULL },
	};
	struct action_entry *a = limited();

	ASSERT(a);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct invocation inv;
		struct record rec = { 0 };
		json_t *want;

		invocation_init(&inv, a);
		invocation_take_answer(&inv, cases[i].http, cases[i].body, strlen(cases[i].body));
		inv.cache_ttl_s = cached_result_take_ttl(inv.result);
		CHECK(!inv.result == cases[i].as_text);
		CHECK(inv.status == cases[i].status);
		CHECK(inv.result_size == strlen(cases[i].body));
		CHECK(record_of_invocation(&inv, &rec) == 0);
		CHECK(reads_as_tree(&rec));
		if (cases[i].result) {
			/* and whoever reads the result later gets the answer's tree */
			want = json_parse(cases[i].result, strlen(cases[i].result), NULL, 0);
			CHECK(result_is(&rec, cases[i].result));
			CHECK(json_equal(want, (json_t *)record_result(&rec)));
			json_decref(want);
		}
		record_clear(&rec);
		json_decref(inv.result);
		buf_free(&inv.answer);
	}
	action_entry_unref(a);
}

static void test_interrupted(void)
{
	struct action_entry *a = limited(), *b = bound();
	struct identity who = { .ns = "carol" };
	struct record rec = { 0 };

	ASSERT(a && b);
	CHECK(record_interrupted(a, &who, "0123456789abcdef0123456789abcdef", 5000, "sequence",
				 &rec) == 0);
	CHECK(written_as(&rec, INTERRUPTED_SEQUENCE));
	CHECK(rec.status == ACTIVATION_WHISK_ERROR);
	CHECK(record_interrupted(b, &who, "0123456789abcdef0123456789abcdef", 5000, NULL,
				 &rec) == 0);
	CHECK(written_as(&rec, INTERRUPTED));
	record_clear(&rec);
	action_entry_unref(a);
	action_entry_unref(b);
}

/* A hit: the result as the cache keeps it (text, no tree) or as a tree; the same record. */
static void test_cached(void)
{
	static const char kept[] = "{\"a\":[1,2.5,\"x\"],\"b\":null}";
	struct action_entry *a = limited();
	struct identity who = { .ns = "carol" };
	struct record rec = { 0 };
	json_t *tree = json_loads(kept, 0, NULL);

	ASSERT(a && tree);
	CHECK(cached_result_record(a, &who, "0123456789abcdef0123456789abcdef", 0, NULL, kept,
				   strlen(kept), 1000, 1002, &rec) == 0);
	CHECK(written_as(&rec, CACHED));
	CHECK(result_is(&rec, kept) && !rec.result);
	CHECK(json_is_array(json_object_get(record_result(&rec), "a")));
	CHECK(cached_result_record(a, &who, "0123456789abcdef0123456789abcdef", 0, tree, NULL, 0,
				   1000, 1002, &rec) == 0);
	CHECK(written_as(&rec, CACHED));
	CHECK_STR(ann(record_tree(&rec), "cached"), "true");
	record_clear(&rec);
	json_decref(tree);
	action_entry_unref(a);
}

/* A record built as a tree (a sequence's, a trigger's) keeps its form and its fields. */
static void test_from_tree(void)
{
	json_t *tree = json_loads(COLD_COMPONENT, 0, NULL);
	struct record rec = { 0 };

	ASSERT(tree);
	CHECK(record_from_tree(tree, &rec) == 0);
	CHECK(written_as(&rec, COLD_COMPONENT));
	CHECK_STR(rec.activation_id, "00000000000000000000000000000007");
	CHECK(rec.duration_ms == 9 && rec.status == 0);
	CHECK(result_is(&rec, "{\"n\":1}"));
	record_clear(&rec);
	json_decref(tree);
}

int main(void)
{
	RUN(test_warm);
	RUN(test_cold_component);
	RUN(test_error);
	RUN(test_answer_as_text);
	RUN(test_interrupted);
	RUN(test_cached);
	RUN(test_from_tree);
	TEST_EXIT();
}
