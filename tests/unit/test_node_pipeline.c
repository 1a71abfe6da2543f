// SPDX-License-Identifier: Apache-2.0
/*
 * The activation pipeline on a worker with no sandbox: what it admits and refuses, who
 * holds the throttle unit and when it comes back, the acceptance marker, the listener's
 * two endings (the record, or "accepted" once the wait ran out). A cold start is asked of
 * the manager through node_post, which this test catches instead of a manager thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "json.h"
#include "node/activation/overflow.h"
#include "node/activation/pipeline.h"
#include "node/activation/spool.h"
#include "node/ingress/worker.h"
#include "util.h"
#include "test.h"

static struct node node;
static struct worker wk;
static unsigned needs_posted;
static char spool_dir[] = "/tmp/xwhisk-pipeline-XXXXXX";
static char pin_dir[128];

/* The manager is not running: a cold-start request is counted and dropped. */
int node_post(struct node *n, mailbox_fn fn, void *arg)
{
	needs_posted++;
	return -ENOSYS;
}

static struct action_entry *action(const char *name, const char *kind, const char *extra)
{
	char text[1024];
	json_t *doc;
	struct action_entry *e;

	snprintf(text, sizeof(text),
		 "{\"docid\":\"t/%s\",\"path\":\"t\",\"name\":\"%s\",\"revision\":1,"
		 "\"exec\":{\"kind\":\"%s\"%s},\"limits\":{\"timeout\":1000},"
		 "\"parameters\":[{\"key\":\"fixed\",\"value\":1}],"
		 "\"annotations\":[{\"key\":\"final\",\"value\":true}]}",
		 name, name, kind, extra);
	doc = json_loads(text, 0, NULL);
	e = action_entry_new("t", name, doc);
	json_decref(doc);
	return e;
}

static struct xw_namespace *ns(void)
{
	return &node.maps->namespaces[1];
}

static const struct identity who = { .ns_idx = 1, .ns = "t", .credential = "u:k" };

static int setup(void)
{
	if (!mkdtemp(spool_dir))
		return -errno;
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-pipeline-%d", getpid());
	if (xw_maps_open(pin_dir, &node.maps))
		return -EIO;
	node.cfg.queue_max = 1;
	wk.node = &node;
	wk.loop = loop_new();
	wk.waiting = overflow_new(node.cfg.queue_max);
	if (!wk.loop || !wk.waiting || spool_writer_open(spool_dir, 0, &wk.spool))
		return -ENOMEM;
	return 0;
}

static void stop_loop(struct loop *loop, void *data)
{
	loop_stop(loop);
}

/* Runs the worker's loop for ms: timers due by then fire. */
static void run_loop_ms(unsigned ms)
{
	(void)loop_timer_add(wk.loop, ms, stop_loop, NULL);
	loop_run(wk.loop);
}

static void reset_namespace(unsigned concurrent)
{
	memset(ns(), 0, sizeof(*ns()));
	ns()->invocations_per_minute = 1000;
	ns()->concurrent_invocations = concurrent;
	ns()->flags = XW_NS_IN_USE;
}

/* Everything the spool holds, as one string (the caller frees). */
static char *spool_text(void)
{
	char cmd[256], *out = NULL;
	size_t cap = 0;
	FILE *f;

	/* What the worker's loop would write at the end of its turn. */
	worker_end_turn(&wk);
	snprintf(cmd, sizeof(cmd), "cat %s/* 2>/dev/null", spool_dir);
	f = popen(cmd, "r");
	if (!f)
		return strdup("");
	if (getdelim(&out, &cap, '\0', f) < 0) {
		free(out);
		out = strdup("");
	}
	pclose(f);
	return out;
}

static void test_admission_holds_a_unit(void)
{
	struct activation_refusal why;
	struct activation *a, *b;

	reset_namespace(1);
	a = activation_admit(&wk, &who, true, &why);
	ASSERT(a);
	CHECK(ns()->inflight == 1);
	b = activation_admit(&wk, &who, true, &why);
	CHECK(!b);
	CHECK(why.status == 429 && why.retry_after_s >= 1);
	CHECK(strstr(why.message, "Too many concurrent requests") != NULL);
	activation_abandon(a);
	CHECK(ns()->inflight == 0);
	/* A sequence's step runs on its sequence's unit: never counted, never refused. */
	b = activation_admit(&wk, &who, false, &why);
	CHECK(b && ns()->inflight == 0);
	activation_abandon(b);
	CHECK(ns()->inflight == 0);
}

static void test_final_parameter_refused(void)
{
	struct action_entry *e = action("fin", "nodejs:20", "");
	struct activation_refusal why;
	struct activation *act;
	char id[33] = "";
	int err;

	reset_namespace(10);
	act = activation_admit(&wk, &who, true, &why);
	ASSERT(e && act);
	err = activation_start(act,
			       &(struct activation_spec){
				       .action = e,
				       .tid = "tid",
				       .params = json_pack("{s:i}", "fixed", 2),
				       .params_mode = PARAMS_MERGE_STRICT,
				       .wait_ms = ACTIVATION_NO_WAIT,
			       },
			       id, &why);
	CHECK(err == -EPERM && why.status == 400);
	CHECK(strstr(why.message, "not allowed") != NULL);
	CHECK(ns()->inflight == 0);
	CHECK(id[0] == '\0');
	action_entry_unref(e);
}

/* The manager's word that the cold start for e failed: its queued activations end. */
static int fail_cold_start(const struct action_entry *e, int status, const char *message)
{
	struct warm_news *news = calloc(1, sizeof(*news));

	if (!news)
		return -ENOMEM;
	news->w = &wk;
	news->action_id = e->id;
	news->status = status;
	news->message = strdup(message);
	worker_on_warm_news(news);
	return 0;
}

static unsigned heard_records, heard_accepted;
static char heard_status[8];

static void listener(struct record *record, void *data)
{
	if (!record) {
		heard_accepted++;
		return;
	}
	heard_records++;
	snprintf(heard_status, sizeof(heard_status), "%d", record->status);
}

/* A cold activation waits in the action's queue (queue_max 1); the next one is refused
 * with its unit given back; the first one's wait runs out (accepted, marker written),
 * then it fails and its unit comes back. */
static void test_queue_wait_and_end(void)
{
	struct action_entry *e = action("cold", "nodejs:20", "");
	struct activation_refusal why;
	struct activation *act;
	char id[33], id2[33] = "", *spool;
	unsigned posted = needs_posted;
	int err;

	reset_namespace(10);
	heard_records = heard_accepted = 0;
	act = activation_admit(&wk, &who, true, &why);
	ASSERT(e && act);
	err = activation_start(act,
			       &(struct activation_spec){
				       .action = e,
				       .tid = "tid",
				       .params = json_pack("{s:i}", "x", 1),
				       .params_mode = PARAMS_MERGE_STRICT,
				       .wait_ms = 1,
				       .listener = listener,
			       },
			       id, &why);
	ASSERT(err == 0);
	CHECK(strlen(id) == 32);
	CHECK(needs_posted == posted + 1);
	CHECK(ns()->inflight == 1);
	CHECK(heard_records == 0 && heard_accepted == 0); /* never before start returns */

	act = activation_admit(&wk, &who, true, &why);
	ASSERT(act);
	CHECK(ns()->inflight == 2);
	err = activation_start(act,
			       &(struct activation_spec){
				       .action = e,
				       .tid = "tid",
				       .wait_ms = ACTIVATION_NO_WAIT,
			       },
			       id2, &why);
	CHECK(err == -ENOSPC && why.status == 429 && why.retry_after_s == 1);
	CHECK(ns()->inflight == 1);

	/* The 1 ms wait runs out: "accepted", with the marker in the spool. */
	run_loop_ms(10);
	CHECK(heard_accepted == 1 && heard_records == 0);
	spool = spool_text();
	CHECK(strstr(spool, id) != NULL);
	free(spool);
	CHECK(ns()->inflight == 1);

	/* The manager says the cold start failed: the activation ends and is recorded. */
	ASSERT(fail_cold_start(e, ACTIVATION_WHISK_ERROR, "no room") == 0);
	CHECK(ns()->inflight == 0);
	CHECK(heard_records == 0); /* the listener left when its wait ran out */
	spool = spool_text();
	CHECK(strstr(spool, "no room") != NULL);
	free(spool);
	action_entry_unref(e);
}

/* The listener that still waits hears the record itself. */
static void test_listener_hears_record(void)
{
	struct action_entry *e = action("cold2", "python:3", "");
	struct activation_refusal why;
	struct activation *act;
	char id[33];

	reset_namespace(10);
	heard_records = heard_accepted = 0;
	act = activation_admit(&wk, &who, true, &why);
	ASSERT(e && act);
	ASSERT(!activation_start(act,
				 &(struct activation_spec){
					 .action = e,
					 .tid = "tid",
					 .params_mode = PARAMS_MERGE,
					 .wait_ms = 60000,
					 .listener = listener,
				 },
				 id, &why));
	ASSERT(fail_cold_start(e, ACTIVATION_DEVELOPER_ERROR, "init failed") == 0);
	CHECK(heard_records == 1 && heard_accepted == 0);
	CHECK_STR(heard_status, "2");
	CHECK(ns()->inflight == 0);
	action_entry_unref(e);
}

/* A non-blocking start writes its marker before activation_start returns. */
static void test_no_wait_marks_acceptance(void)
{
	struct action_entry *e = action("async", "nodejs:20", "");
	struct activation_refusal why;
	struct activation *act;
	char id[33], *spool;

	reset_namespace(10);
	act = activation_admit(&wk, &who, true, &why);
	ASSERT(e && act);
	ASSERT(!activation_start(act,
				 &(struct activation_spec){
					 .action = e,
					 .tid = "tid",
					 .wait_ms = ACTIVATION_NO_WAIT,
					 .listener = listener,
				 },
				 id, &why));
	spool = spool_text();
	CHECK(strstr(spool, id) != NULL);
	free(spool);
	ASSERT(fail_cold_start(e, ACTIVATION_WHISK_ERROR, "gone") == 0);
	CHECK(ns()->inflight == 0);
	action_entry_unref(e);
}

int main(void)
{
	char cmd[256];
	int err;

	if (geteuid() != 0) {
		printf("ok - test_node_pipeline # skipped: needs root for BPF maps\n");
		return 0;
	}
	err = setup();
	if (err) {
		printf("not ok - setup: %s\n", strerror(-err));
		return 1;
	}
	RUN(test_admission_holds_a_unit);
	RUN(test_final_parameter_refused);
	RUN(test_queue_wait_and_end);
	RUN(test_listener_hears_record);
	RUN(test_no_wait_marks_acceptance);
	spool_writer_close(wk.spool);
	overflow_free(wk.waiting);
	loop_free(wk.loop);
	xw_maps_close(node.maps);
	xw_maps_unpin(pin_dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", spool_dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", spool_dir);
	TEST_EXIT();
}
