// SPDX-License-Identifier: Apache-2.0
/*
 * The node's reading of a sandbox's /run answer (userspace/node/activation/run_answer.c)
 * and what it makes of it: the __ow_cache wish taken out, the activation record built
 * (record.c) and written as a spool line. The first byte picks the
 * HTTP status of the answer (its low 3 bits); the rest is the body.
 * Besides not crashing: the controller must accept every record the node makes
 * (activation_check), and the spool line must read back equal (nothing unreadable); an
 * answer kept as its text must make the record its tree makes.
 *
 * fuzz_run_answer_oversized is this file with RUN_ANSWER_OVERSIZED: every answer is
 * longer than RESULT_MAX, and only the first RESULT_MAX + 1 bytes are held, as
 * http_call_limit_body keeps them (the body, then spaces). Such an answer costs a
 * thousand others (megabytes through every step under ASan): a target of its own, so
 * that it does not slow this one down to a few dozen inputs a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "fuzz.h"
#include "node_stub.h"
#include "json.h"
#include "log.h"
#include "node/activation/cached_result.h"
#include "node/activation/invocation.h"
#include "node/activation/record.h"
#include "node/activation/run_answer.h"

static struct action_entry *fuzz_action(void)
{
	static struct action_entry *a;
	json_t *doc;

	if (a)
		return a;
	log_set_level(LOG_LEVEL_ERR);
	doc = json_loads("{\"docid\":\"alice/pkg/hello\",\"path\":\"alice/pkg\",\"name\":\"hello\","
			 "\"version\":\"0.0.3\",\"revision\":3,\"exec\":{\"kind\":\"nodejs:20\"},"
			 "\"limits\":{\"timeout\":5000,\"memory\":128,\"logs\":10}}",
			 0, NULL);
	a = doc ? action_entry_new("alice", "/alice/pkg/hello", doc) : NULL;
	json_decref(doc);
	if (!a)
		abort();
	return a;
}

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_run_answer: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

/* The record as the spool writes it and the shipper and controller read it: one line,
 * JSON, and byte for byte what jansson would dump of it (the writer escapes as it does). */
static void check_spool_line(struct record *rec)
{
	const json_t *back = record_tree(rec);
	char *dumped = back ? json_dumps(back, JSON_COMPACT) : NULL;

	if (!rec->text.len || memchr(rec->text.data, '\n', rec->text.len))
		fail("a record is not one spool line", rec->text.data);
	if (!back)
		fail("a spool line does not read back", rec->text.data);
	if (!dumped || strlen(dumped) != rec->text.len ||
	    memcmp(dumped, rec->text.data, rec->text.len))
		fail("a record is not written as jansson writes it", rec->text.data);
	free(dumped);
}

/* An answer kept as its text: one spool line still, and the same record as the tree's
 * path makes of the same answer, which is written as jansson writes it. */
static void check_answer_text(struct invocation *inv, struct record *rec)
{
	struct record tree_rec = { 0 };
	const json_t *back = record_tree(rec);

	if (!rec->text.len || memchr(rec->text.data, '\n', rec->text.len))
		fail("a record is not one spool line", rec->text.data);
	if (!back)
		fail("a spool line does not read back", rec->text.data);
	inv->result = json_parse(inv->answer.data, inv->answer.len, NULL, 0);
	if (!inv->result)
		fail("an answer kept as text does not parse", inv->answer.data);
	if (inv->status != (json_object_get(inv->result, "error") ? ACTIVATION_APPLICATION_ERROR
								   : ACTIVATION_SUCCESS))
		fail("an answer kept as text has the wrong status", inv->answer.data);
	if (record_of_invocation(inv, &tree_rec))
		fail("no record", NULL);
	check_spool_line(&tree_rec);
	if (!json_equal((json_t *)back, (json_t *)record_tree(&tree_rec)))
		fail("an answer kept as text makes another record", rec->text.data);
	record_clear(&tree_rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = { 200, 200, 200, 400, 404, 500, 502, 503 };
#ifdef RUN_ANSWER_OVERSIZED
	static char *held; /* an oversized answer: what the client kept of it */
#endif
	struct invocation inv = { .action = fuzz_action() };
	const char *body = size ? (const char *)data + 1 : "";
	size_t len = size ? size - 1 : 0;
	const char *why;
	struct record rec = { 0 };

#ifdef RUN_ANSWER_OVERSIZED
	if (!held && !(held = malloc(RESULT_MAX + 1)))
		abort();
	memset(held, ' ', RESULT_MAX + 1);
	memcpy(held, body, len < RESULT_MAX + 1 ? len : RESULT_MAX + 1);
	body = held;
	len += RESULT_MAX + 1;
#endif
	snprintf(inv.who.ns, sizeof(inv.who.ns), "bob");
	snprintf(inv.activation_id, sizeof(inv.activation_id), "%032x", 7);
	inv.received_ms = inv.start_ms = 1000;
	inv.end_ms = 1010;
	invocation_take_answer(&inv, statuses[size ? data[0] & 7 : 0], body, len);
	if ((!inv.result && !inv.answer.len) || inv.result_size != len)
		fail("an answer left no result", NULL);
	(void)cached_result_take_ttl(inv.result);
	if (record_of_invocation(&inv, &rec))
		fail("no record", NULL);
	if ((why = activation_check(record_tree(&rec))))
		fail("the controller would reject the record", why);
	if (inv.result) {
		check_spool_line(&rec);
	} else {
		check_answer_text(&inv, &rec);
	}
	record_clear(&rec);
	json_decref(inv.result);
	buf_free(&inv.answer);
	return 0;
}
