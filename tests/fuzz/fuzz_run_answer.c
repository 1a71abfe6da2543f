// SPDX-License-Identifier: Apache-2.0
/*
 * The node's reading of a sandbox's /run answer (userspace/node/activation/invocation.c,
 * invocation_take_answer) and what it makes of it: the __ow_cache wish taken out, the
 * activation record built (record.c) and written as a spool line. The first byte picks the
 * HTTP status of the answer (its low 3 bits); the rest is the body.
 * Besides not crashing: the controller must accept every record the node makes
 * (activation_check), and the spool line must read back equal (nothing unreadable).
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
#include "node/activation/record.h"

#define RESULT_MAX (1u << 20) /* as in invocation.c */

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

/* The record as the spool writes it and the shipper and controller read it. */
static void check_spool_line(const json_t *rec)
{
	char *line = json_dumps(rec, JSON_COMPACT);
	json_t *back = line ? json_parse(line, strlen(line), NULL, 0) : NULL;

	if (!line || strchr(line, '\n'))
		fail("a record is not one spool line", line);
	if (!json_equal(back, rec))
		fail("a spool line does not read back as written", line);
	json_decref(back);
	free(line);
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
	json_t *rec;

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
	if (!inv.result || inv.result_size != len)
		fail("an answer left no result", NULL);
	(void)cached_result_take_ttl(inv.result);
	rec = record_of_invocation(&inv);
	if ((why = activation_check(rec)))
		fail("the controller would reject the record", why);
	check_spool_line(rec);
	json_decref(rec);
	json_decref(inv.result);
	return 0;
}
