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

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "activation.h"
#include "json.h"
#include "node/activation/overflow.h"
#include "node/activation/invocation.h"
#include "node/activation/pipeline.h"
#include "node/activation/slots.h"
#include "node/activation/wait_board.h"
#include "node/activation/spool.h"
#include "node/ingress/worker.h"
#include "node/manager/pool_internal.h"
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

static struct action_entry *action_limited(const char *name, const char *kind,
					   const char *extra, const char *limits)
{
	char text[1024];
	json_t *doc;
	struct action_entry *e;

	snprintf(text, sizeof(text),
		 "{\"docid\":\"t/%s\",\"path\":\"t\",\"name\":\"%s\",\"revision\":1,"
		 "\"exec\":{\"kind\":\"%s\"%s},\"limits\":%s,"
		 "\"parameters\":[{\"key\":\"fixed\",\"value\":1}],"
		 "\"annotations\":[{\"key\":\"final\",\"value\":true}]}",
		 name, name, kind, extra, limits);
	doc = json_loads(text, 0, NULL);
	e = action_entry_new("t", name, doc);
	json_decref(doc);
	return e;
}

static struct action_entry *action(const char *name, const char *kind, const char *extra)
{
	return action_limited(name, kind, extra, "{\"timeout\":1000}");
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
	wk.mailbox = wk.loop ? mailbox_new(wk.loop) : NULL;
	node.waits = wait_board_new();
	if (!wk.loop || !wk.waiting || !wk.mailbox || !node.waits || spool_writer_open(spool_dir, 0, &wk.spool))
		return -ENOMEM;
	return 0;
}

static void stop_loop(struct loop *loop, void *data)
{
	loop_stop(loop);
}

/* Runs w's loop for ms: timers due by then fire. */
static void run_loop_on(struct worker *w, unsigned ms)
{
	(void)loop_timer_add(w->loop, ms, stop_loop, NULL);
	loop_run(w->loop);
}

static void run_loop_ms(unsigned ms)
{
	run_loop_on(&wk, ms);
}

static void reset_namespace(unsigned concurrent)
{
	memset(ns(), 0, sizeof(*ns()));
	ns()->invocations_per_minute = 1000;
	ns()->concurrent_invocations = concurrent;
	ns()->flags = XW_NS_IN_USE;
}

static int collect_line(const char *p, size_t len, void *data)
{
	return buf_append(data, p, len) || buf_append(data, "\n", 1) ? -1 : 0;
}

/* Everything the spool holds, its lines as one string (the caller frees). */
static char *spool_text(void)
{
	struct buf text = BUF_INIT;

	/* What the worker's loop would write at the end of its turn. */
	worker_end_turn(&wk);
	if (spool_each_line(spool_dir, collect_line, &text) || buf_append(&text, "", 1)) {
		buf_free(&text);
		return strdup("");
	}
	return text.data;
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

/* A sandbox stand-in on loopback that takes connections and never answers: what claims
 * it shows as its inflight count. */
static int silent_sandbox(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		close(fd);
		return -errno;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static int start_async(struct worker *w, struct action_entry *e, char id[33])
{
	struct activation_refusal why;
	struct activation *act = activation_admit(w, &who, true, &why);

	if (!act)
		return -EAGAIN;
	return activation_start(act,
				&(struct activation_spec){
					.action = e,
					.tid = "tid",
					.wait_ms = ACTIVATION_NO_WAIT,
				},
				id, &why);
}

/* Slot i a warm sandbox of e on 127.0.0.1:port (a loopback stand-in), the only one the
 * warm map lists for it, with inflight activations in it already. */
static int warm_slot(struct action_entry *e, uint32_t i, uint16_t port, uint32_t inflight)
{
	struct xw_warm warm = { .count = 1, .slot = { i } };
	struct xw_slot *slot = &node.maps->slots[i];

	memset(slot, 0, sizeof(*slot));
	slot->action_id = e->id;
	slot->concurrency = 1;
	slot->inflight = inflight;
	memcpy(slot->addr, (uint8_t[]){ 127, 0, 0, 1 }, 4);
	slot->port = port;
	slot->state = XW_SLOT_WARM;
	if (bpf_map_update_elem(node.maps->warm_fd, &e->id, &warm, BPF_ANY))
		return -errno;
	slot_warm_changed();
	return 0;
}

static void no_warm_slot(struct action_entry *e, struct xw_slot *slot)
{
	(void)bpf_map_delete_elem(node.maps->warm_fd, &e->id);
	memset(slot, 0, sizeof(*slot));
	slot_warm_changed();
}

/*
 * Activations of one action wait in one queue, whichever worker took them: the room a
 * sandbox gives back goes to the one that has waited longest, through the other worker's
 * mailbox if need be, and one that comes later does not take it first, even through
 * another cache entry of the same action (a package binding's name, say). Before, the
 * worker that freed the room kept it for its own newcomers, and the other's waited on.
 */
static void test_one_queue_across_workers(void)
{
	struct action_entry *e = action_limited("fair", "nodejs:20", "", "{\"timeout\":100,\"logs\":0}");
	struct action_entry *alias = NULL;
	struct xw_slot *slot = &node.maps->slots[7];
	struct worker wk2 = { .node = &node, .id = 1 };
	char first[33], later[33];
	uint16_t port = 0;
	int listener_fd = silent_sandbox(&port);

	reset_namespace(10);
	ASSERT(e && listener_fd >= 0);
	/* The same action (docid and revision) under another name: another entry, one id. */
	alias = action_entry_new("t", "alias", e->doc);
	ASSERT(alias && alias != e && alias->id == e->id);
	wk2.loop = loop_new();
	wk2.waiting = overflow_new(node.cfg.queue_max);
	wk2.mailbox = wk2.loop ? mailbox_new(wk2.loop) : NULL;
	ASSERT(wk2.waiting && wk2.mailbox && !spool_writer_open(spool_dir, 1, &wk2.spool));
	node.workers[0] = &wk;
	node.workers[1] = &wk2;
	node.nworkers = 2;
	/* One warm sandbox of the action, busy with an activation of wk's. */
	ASSERT(!warm_slot(e, 7, port, 1));

	ASSERT(start_async(&wk2, e, first) == 0);
	CHECK(overflow_waiting(wk2.waiting, e->id) == 1 && wait_board_count(node.waits, e->id) == 1);
	CHECK(wait_board_oldest(node.waits, e->id) == 1);

	/* wk's activation ends; a new one arrives on wk, by the alias, before wk hands the
	 * room on. */
	slot_release(node.maps, 7, false);
	ASSERT(start_async(&wk, alias, later) == 0);
	CHECK(slot->inflight == 0); /* it did not overtake */
	CHECK(overflow_waiting(wk.waiting, e->id) == 1 && wait_board_count(node.waits, e->id) == 2);
	CHECK(wait_board_oldest(node.waits, e->id) == 1);
	invocation_give_room(&wk, e->id);
	CHECK(slot->inflight == 0 && overflow_waiting(wk.waiting, e->id) == 1);

	/* wk2 hears of the room through its mailbox: the first one runs. */
	run_loop_on(&wk2, 20);
	CHECK(slot->inflight == 1);
	CHECK(overflow_waiting(wk2.waiting, e->id) == 0 && wait_board_count(node.waits, e->id) == 1);
	CHECK(wait_board_oldest(node.waits, e->id) == 0);

	/* Its sandbox never answers: at the time limit the run ends and the sandbox is
	 * retired, no room for the later one, which the failed start then ends. */
	run_loop_on(&wk2, 300);
	CHECK(slot->inflight == 0 && overflow_waiting(wk.waiting, e->id) == 1);
	ASSERT(fail_cold_start(e, ACTIVATION_WHISK_ERROR, "no room") == 0);
	CHECK(wait_board_count(node.waits, e->id) == 0 && wait_board_oldest(node.waits, e->id) == -1);
	CHECK(!wait_board_any(node.waits));
	CHECK(ns()->inflight == 0);

	node.nworkers = 0;
	no_warm_slot(e, slot);
	worker_end_turn(&wk2);
	http_pool_free(wk2.sandbox[7]);
	spool_writer_close(wk2.spool);
	overflow_free(wk2.waiting);
	mailbox_free(wk2.mailbox);
	loop_free(wk2.loop);
	close(listener_fd);
	action_entry_unref(alias);
	action_entry_unref(e);
}

/* The free room the manager counts against waiting activations: this node's own warm
 * sandboxes' unclaimed room only. Another node's slot shows only this node's count of
 * what runs in it, so its room is never counted as free. */
static void test_warm_free_counts_own_room(void)
{
	uint64_t id = 0x5eed;
	struct xw_warm warm = { .count = 3, .slot = { 20, 21, 22 } };
	struct xw_slot *own = &node.maps->slots[20], *busy = &node.maps->slots[21],
		       *remote = &node.maps->slots[22];

	for (int i = 20; i <= 22; i++) {
		memset(&node.maps->slots[i], 0, sizeof(node.maps->slots[i]));
		node.maps->slots[i].action_id = id;
		node.maps->slots[i].concurrency = 4;
		node.maps->slots[i].state = XW_SLOT_WARM;
	}
	own->inflight = 1;
	busy->inflight = 4;
	remote->node = 3;
	ASSERT(!bpf_map_update_elem(node.maps->warm_fd, &id, &warm, BPF_ANY));
	CHECK(slot_warm_capacity(node.maps, id) == 12);
	CHECK(slot_warm_free(node.maps, id) == 3);
	busy->state = XW_SLOT_DRAINING;
	CHECK(slot_warm_capacity(node.maps, id) == 8 && slot_warm_free(node.maps, id) == 3);
	(void)bpf_map_delete_elem(node.maps->warm_fd, &id);
	for (int i = 20; i <= 22; i++)
		memset(&node.maps->slots[i], 0, sizeof(node.maps->slots[i]));
}

/* A sandbox stand-in that answers every /run with 429 (full: another node's activation
 * runs in it), counting them; it stops when its listener is shut down. */
struct full_sandbox {
	int listener;
	unsigned runs;
};

static void *full_sandbox_main(void *arg)
{
	struct full_sandbox *fs = arg;
	static const char full[] = "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n";
	struct pollfd fds[8] = { { .fd = fs->listener, .events = POLLIN } };
	nfds_t n = 1;
	char in[8192];

	for (;;) {
		if (poll(fds, n, -1) < 0)
			return NULL;
		if (fds[0].revents) {
			int c = accept(fs->listener, NULL, NULL);

			if (c < 0)
				return NULL; /* shut down */
			if (n < 8)
				fds[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
			else
				close(c);
		}
		for (nfds_t i = 1; i < n; i++) {
			ssize_t got;

			if (!fds[i].revents)
				continue;
			got = read(fds[i].fd, in, sizeof(in) - 1);
			if (got <= 0) {
				close(fds[i].fd);
				fds[i--] = fds[--n];
				continue;
			}
			in[got] = '\0';
			for (char *p = in; (p = strstr(p, "POST /run")); p++) {
				__atomic_add_fetch(&fs->runs, 1, __ATOMIC_RELAXED);
				if (write(fds[i].fd, full, sizeof(full) - 1) < 0)
					break;
			}
		}
	}
}

/*
 * A sandbox that says it is full (429) is tried again a few times; then the activation
 * waits without claiming it once more at once, which would only ask it again (before:
 * an activation alone in the queue was the oldest and claimed the same slot over and
 * over while the other node's run lasted).
 */
static void test_full_sandbox_is_not_asked_again_at_once(void)
{
	struct action_entry *e = action_limited("full", "nodejs:20", "", "{\"timeout\":1000,\"logs\":0}");
	struct xw_slot *slot = &node.maps->slots[9];
	struct full_sandbox fs = { .listener = -1 };
	uint16_t port = 0;
	pthread_t thread;
	char id[33];

	reset_namespace(10);
	fs.listener = silent_sandbox(&port);
	ASSERT(e && fs.listener >= 0);
	ASSERT(!pthread_create(&thread, NULL, full_sandbox_main, &fs));
	node.workers[0] = &wk;
	node.nworkers = 1;
	ASSERT(!warm_slot(e, 9, port, 0));

	ASSERT(start_async(&wk, e, id) == 0);
	run_loop_ms(60);
	/* The first run and BUSY_RETRIES (3) more, then it waits. */
	CHECK(__atomic_load_n(&fs.runs, __ATOMIC_RELAXED) == 4);
	CHECK(slot->inflight == 0);
	CHECK(overflow_waiting(wk.waiting, e->id) == 1 && wait_board_count(node.waits, e->id) == 1);
	ASSERT(fail_cold_start(e, ACTIVATION_WHISK_ERROR, "no room") == 0);
	CHECK(!wait_board_any(node.waits) && ns()->inflight == 0);

	node.nworkers = 0;
	shutdown(fs.listener, SHUT_RDWR);
	pthread_join(thread, NULL);
	close(fs.listener);
	http_pool_free(wk.sandbox[9]);
	wk.sandbox[9] = NULL;
	no_warm_slot(e, slot);
	action_entry_unref(e);
}

/* A sandbox stand-in whose runtime goes without answering: it reads a /run and closes
 * the connection; it stops when its listener is shut down. */
static void *closing_sandbox_main(void *arg)
{
	int listener = *(int *)arg;
	char in[8192];

	for (;;) {
		int c = accept(listener, NULL, NULL);

		if (c < 0)
			return NULL; /* shut down */
		(void)!read(c, in, sizeof(in));
		close(c);
	}
}

/* The spool has a record with text in it (after the worker's turn). */
static bool spool_has(const char *text)
{
	char *spool = spool_text();
	bool has = strstr(spool, text) != NULL;

	free(spool);
	return has;
}

/*
 * A run whose sandbox went without an answer waits for the sandbox's end: the logs come
 * with it (asked for even with logs off), and why it ended by then makes the verdict. A
 * runtime on its own port dies before the init that tells why; before, the verdict was
 * given at once and an action out of memory "exited unexpectedly". Another node's
 * sandbox tells nothing here: its verdict is at once.
 */
static void test_lost_answer_waits_for_the_end(void)
{
	struct action_entry *e = action_limited("lost", "nodejs:20", "", "{\"timeout\":5000,\"logs\":0}");
	struct xw_slot *slot = &node.maps->slots[10];
	struct psandbox ps = { 0 };
	uint16_t port = 0;
	unsigned posted;
	pthread_t thread;
	int listener;
	char id[33];

	reset_namespace(10);
	node.pool = calloc(1, sizeof(*node.pool));
	listener = silent_sandbox(&port);
	ASSERT(e && node.pool && listener >= 0);
	ASSERT(!pthread_create(&thread, NULL, closing_sandbox_main, &listener));
	node.workers[0] = &wk;
	node.nworkers = 1;
	ps.p = node.pool;
	ps.slot = 10;

	ASSERT(!warm_slot(e, 10, port, 0));
	posted = needs_posted;
	ASSERT(start_async(&wk, e, id) == 0);
	run_loop_ms(200);
	CHECK(!spool_has("exited unexpectedly") && !spool_has("exhausted its memory"));
	CHECK(needs_posted == posted + 1); /* pool_broken: the manager removes it */
	CHECK(ns()->inflight == 1);
	/* The sandbox ends, out of memory: the manager hands over its logs. */
	snprintf(node.pool->death[10], sizeof(node.pool->death[10]), "oom");
	pool_logs_flush(&ps);
	run_loop_ms(50);
	CHECK(spool_has("The action exhausted its memory and was aborted."));
	CHECK(ns()->inflight == 0);

	/* Another node's sandbox. */
	memset(node.pool->death[10], 0, sizeof(node.pool->death[10]));
	ASSERT(!warm_slot(e, 10, port, 0));
	slot->node = 2;
	ASSERT(start_async(&wk, e, id) == 0);
	run_loop_ms(200);
	CHECK(spool_has("The action did not produce a valid response and exited unexpectedly."));
	CHECK(ns()->inflight == 0);

	node.nworkers = 0;
	shutdown(listener, SHUT_RDWR);
	pthread_join(thread, NULL);
	close(listener);
	http_pool_free(wk.sandbox[10]);
	wk.sandbox[10] = NULL;
	no_warm_slot(e, slot);
	free(node.pool);
	node.pool = NULL;
	action_entry_unref(e);
}

/* Two workers that resolve the same revision at once get one entry: the queue and the
 * run times of an action are learnt on it, shared. A new revision is a new entry. */
static void test_cache_shares_one_entry_per_revision(void)
{
	struct action_cache *c = action_cache_new(node.maps);
	json_t *r1 = json_loads("{\"docid\":\"t/s\",\"path\":\"t\",\"name\":\"s\",\"revision\":1,"
				"\"exec\":{\"kind\":\"nodejs:20\"}}", 0, NULL);
	json_t *r2 = json_loads("{\"docid\":\"t/s\",\"path\":\"t\",\"name\":\"s\",\"revision\":2,"
				"\"exec\":{\"kind\":\"nodejs:20\"}}", 0, NULL);
	uint64_t epoch;
	struct action_entry *a, *b, *n;

	ASSERT(c && r1 && r2);
	epoch = action_cache_epoch(c);
	a = action_cache_put(c, epoch, "t", 1, "s", r1);
	b = action_cache_put(c, epoch, "t", 1, "s", r1);
	CHECK(a && a == b);
	n = action_cache_put(c, epoch, "t", 1, "s", r2);
	CHECK(n && n != a && n->id != a->id);
	action_entry_unref(a);
	action_entry_unref(b);
	action_entry_unref(n);
	action_cache_free(c);
	json_decref(r1);
	json_decref(r2);
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
	RUN(test_one_queue_across_workers);
	RUN(test_cache_shares_one_entry_per_revision);
	RUN(test_warm_free_counts_own_room);
	RUN(test_full_sandbox_is_not_asked_again_at_once);
	RUN(test_lost_answer_waits_for_the_end);
	spool_writer_close(wk.spool);
	overflow_free(wk.waiting);
	mailbox_free(wk.mailbox);
	loop_free(wk.loop);
	wait_board_free(node.waits);
	xw_maps_close(node.maps);
	xw_maps_unpin(pin_dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", spool_dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", spool_dir);
	TEST_EXIT();
}
