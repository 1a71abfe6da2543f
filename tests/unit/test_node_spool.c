// SPDX-License-Identifier: Apache-2.0
/* The spool: records appended, shipped in batches to a (fake) controller, retried after a
 * failure, acknowledged offsets kept, segments reused once acknowledged, and nothing
 * shipped twice or lost across a restart or a controller away. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/ctlclient.h"
#include "json.h"
#include "mailbox.h"
#include "node/activation/spool.h"
#include "node/manager/shipper.h"
#include "util.h"
#include "test.h"

static char dir[] = "/tmp/xwhisk-test-spool-XXXXXX";
static struct loop *loop;
static struct http_server *fake;
static json_t *received; /* activation ids, in arrival order */
static int refuse_next;   /* answer 503 to this many batches */

static int old_controller; /* answer JSON lines 415, as a controller of an earlier version */
static int lines_batches, document_batches; /* batches received in each form */

/* The ids of a body of JSON lines; a line that is no JSON counts as "?". */
static void receive_lines(struct buf *body)
{
	char *p = body->data, *line;
	size_t len;

	while ((line = json_lines_next(&p, body->data + body->len, &len))) {
		json_t *rec = json_parse(line, len, NULL, 0);

		json_array_append_new(received, json_string(json_obj_str(rec, "activationId") ?: "?"));
		json_decref(rec);
	}
}

static void fake_controller(struct http_request *req, void *data)
{
	const char *ct = http_req_header(req, "Content-Type");
	bool lines = ct && !strcmp(ct, "application/x-ndjson");
	json_t *body, *a;
	size_t i;

	if (refuse_next > 0 || (lines && old_controller)) {
		refuse_next -= refuse_next > 0 && !(lines && old_controller);
		http_resp_send(req, lines && old_controller ? 415 : 503, "application/json", "{}",
			       2);
		return;
	}
	if (lines) {
		lines_batches++;
		receive_lines(&req->body);
	} else {
		document_batches++;
		body = json_parse(req->body.data, req->body.len, NULL, 0);
		json_array_foreach(json_object_get(body, "activations"), i, a)
			json_array_append(received, json_object_get(a, "activationId"));
		json_decref(body);
	}
	http_resp_send(req, 200, "application/json", "{\"stored\":1,\"rejected\":[]}", 26);
}

static void stop(struct loop *l, void *data)
{
	loop_stop(l);
}

static void run_until(size_t n, unsigned ms)
{
	uint64_t end = clock_mono_ms() + ms;

	while (json_array_size(received) < n && clock_mono_ms() < end) {
		loop_timer_add(loop, 10, stop, NULL);
		loop_run(loop);
	}
}

static void append(struct spool_writer *w, const char *id)
{
	json_t *rec = json_pack("{s:s,s:s}", "activationId", id, "namespace", "guest");

	CHECK(spool_append(w, rec) == 0);
	json_decref(rec);
}

static int count_files(const char *in)
{
	DIR *d = opendir(in);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strstr(de->d_name, ".spool") != NULL;
	if (d)
		closedir(d);
	return n;
}

static void test_ship_retry_and_restart(void)
{
	struct http_server_opts o = { .max_body = 16 << 20 };
	struct spool_writer *w = NULL;
	struct mailbox *mb;
	struct ctlclient *cc;
	struct shipper *s;
	static struct ctl_targets targets;
	char url[64];

	loop = loop_new();
	mb = mailbox_new(loop);
	fake = http_server_new(loop, &o, fake_controller, NULL);
	ASSERT(loop && mb && fake && http_server_listen(fake, "127.0.0.1:0", false) == 0);
	snprintf(url, sizeof(url), "127.0.0.1:%d", http_server_port(fake));
	ASSERT(ctl_targets_parse(&targets, url) == 0);
	cc = ctlclient_new(loop, &targets, "token");
	received = json_array();

	ASSERT(spool_writer_open(dir, 0, &w) == 0);
	append(w, "a1");
	append(w, "a2");
	append(w, "a3");
	refuse_next = 1;
	s = shipper_new(loop, mb, dir, cc);
	shipper_nudge(s);
	run_until(3, 5000);
	CHECK(json_array_size(received) == 3);
	/* The shipper counts when it reads the answer, a little after the server counted. */
	for (int i = 0; i < 100 && shipper_shipped(s) < 3; i++)
		run_until(4, 10);
	CHECK(shipper_shipped(s) == 3);

	/* A restart: a new writer, a new shipper; the first segment, acknowledged to its
	 * end, is reused. */
	shipper_free(s);
	spool_writer_close(w);
	ASSERT(spool_writer_open(dir, 0, &w) == 0);
	append(w, "b1");
	append(w, "b2");
	s = shipper_new(loop, mb, dir, cc);
	run_until(5, 5000);
	CHECK(json_array_size(received) == 5);
	CHECK(!strcmp(json_string_value(json_array_get(received, 3)), "b1"));
	run_until(6, 300); /* nothing more arrives */
	CHECK(json_array_size(received) == 5);
	CHECK(count_files(dir) == 1);

	/* A record longer than a batch's read (10 MB of logs are allowed): shipped whole,
	 * and what follows it too. */
	{
		char *logs = malloc(3 << 20);
		json_t *rec;

		ASSERT(logs);
		memset(logs, 'x', (3 << 20) - 1);
		logs[(3 << 20) - 1] = '\0';
		rec = json_pack("{s:s,s:s,s:[s]}", "activationId", "big", "namespace", "guest",
				"logs", logs);
		free(logs);
		CHECK(rec && spool_append(w, rec) == 0);
		json_decref(rec);
	}
	append(w, "c1");
	shipper_nudge(s);
	run_until(7, 5000);
	CHECK(json_array_size(received) == 7);
	CHECK(!strcmp(json_string_value(json_array_get(received, 5)) ?: "", "big"));

	shipper_free(s);
	spool_writer_close(w);
	ctlclient_free(cc);
	http_server_free(fake);
	mailbox_free(mb);
	loop_free(loop);
	json_decref(received);
}

static struct mailbox *mb;
static struct ctlclient *cc;
static struct shipper *shipper;

/* A fake controller, a shipper of in, and a fresh list of what arrives. */
static void shipping_start(const char *in)
{
	struct http_server_opts o = { .max_body = 64 << 20 };
	static struct ctl_targets targets;
	char url[64];

	loop = loop_new();
	mb = mailbox_new(loop);
	fake = http_server_new(loop, &o, fake_controller, NULL);
	ASSERT(loop && mb && fake && http_server_listen(fake, "127.0.0.1:0", false) == 0);
	snprintf(url, sizeof(url), "127.0.0.1:%d", http_server_port(fake));
	ASSERT(ctl_targets_parse(&targets, url) == 0);
	cc = ctlclient_new(loop, &targets, "token");
	received = json_array();
	shipper = shipper_new(loop, mb, in, cc);
}

/* Runs the loop until the shipper has nothing left unacknowledged (or 3 s). */
static void until_acknowledged(void)
{
	for (int k = 0; k < 300 && shipper_backlog(shipper); k++)
		run_until(json_array_size(received) + 1, 10);
}

static void shipping_stop(void)
{
	until_acknowledged(); /* no call left in flight to leak */
	shipper_free(shipper);
	ctlclient_free(cc);
	http_server_free(fake);
	mailbox_free(mb);
	loop_free(loop);
	json_decref(received);
}

/* A record of about len bytes (its logs), with the given id. */
static json_t *record_of(const char *id, size_t len)
{
	char *logs = malloc(len + 1);
	json_t *rec;

	if (!logs)
		abort();
	memset(logs, 'x', len);
	logs[len] = '\0';
	rec = json_pack("{s:s,s:s,s:[s]}", "activationId", id, "namespace", "guest", "logs", logs);
	free(logs);
	if (!rec)
		abort();
	return rec;
}

/* The ids received are id0, id1, ... idN-1 in order. */
static bool received_in_order(const char *prefix, size_t n)
{
	if (json_array_size(received) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "%s%zu", prefix, i);
		if (strcmp(json_string_value(json_array_get(received, i)) ?: "", want))
			return false;
	}
	return true;
}

static void append_sized(struct spool_writer *w, const char *id, size_t len)
{
	json_t *rec = record_of(id, len);

	CHECK(spool_append(w, rec) == 0);
	json_decref(rec);
}

/* The largest segment file of in, in bytes. */
static long largest_file(const char *in)
{
	DIR *d = opendir(in);
	struct dirent *de;
	long max = 0;

	while (d && (de = readdir(d))) {
		char path[256];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", in, de->d_name);
		if (strstr(de->d_name, ".spool") && !stat(path, &st) && st.st_size > max)
			max = st.st_size;
	}
	if (d)
		closedir(d);
	return max;
}

/* A writer for worker in its own folder dir/name (its path in sub); NULL when it cannot open. */
static struct spool_writer *writer_in(const char *name, unsigned worker, char *sub, size_t size)
{
	struct spool_writer *w = NULL;

	snprintf(sub, size, "%s/%s", dir, name);
	CHECK(spool_writer_open(sub, worker, &w) == 0);
	return w;
}

/* With the controller keeping up, a worker goes round the same few segments: records of
 * ten segments' worth arrive in order, and no more than three files are ever made. A
 * batch larger than a segment gets one of its own, deleted once acknowledged. */
static void test_ring_reused(void)
{
	struct spool_writer *w = NULL;
	uint64_t made;
	char sub[96];

	ASSERT((w = writer_in("ring", 3, sub, sizeof(sub))));
	made = spool_segments_made();
	shipping_start(sub);
	for (size_t i = 0; i < 30; i++) {
		char id[32];

		snprintf(id, sizeof(id), "r%zu", i);
		append_sized(w, id, SPOOL_SEGMENT_BYTES / 3 - 200);
		shipper_nudge(shipper);
		run_until(i + 1, 5000);
		until_acknowledged();
	}
	CHECK(received_in_order("r", 30));
	CHECK(spool_segments_made() - made <= 2);
	CHECK(count_files(sub) <= 3);

	append_sized(w, "r30", SPOOL_SEGMENT_BYTES + 100);
	CHECK(largest_file(sub) > SPOOL_HEAD_BYTES + SPOOL_SEGMENT_BYTES);
	shipper_nudge(shipper);
	run_until(31, 10000);
	until_acknowledged();
	/* Past the big one's end: the next segment, and the big one, acknowledged, goes. */
	append_sized(w, "r31", 8192);
	CHECK(largest_file(sub) <= SPOOL_HEAD_BYTES + SPOOL_SEGMENT_BYTES);
	shipper_nudge(shipper);
	run_until(32, 5000);
	CHECK(received_in_order("r", 32));
	shipping_stop();
	spool_writer_close(w);
}

/* The backlog gauge counts a record from its nudge on, not from the batch that ships it a
 * coalescing delay (20 ms) later, and is 0 as soon as the controller has it. */
static void test_backlog_gauge(void)
{
	struct spool_writer *w = NULL;
	char sub[96];

	ASSERT((w = writer_in("gauge", 0, sub, sizeof(sub))));
	shipping_start(sub);
	append(w, "g0");
	shipper_nudge(shipper);
	run_until(1, 5000);
	until_acknowledged();
	CHECK(json_array_size(received) == 1 && shipper_backlog(shipper) == 0);
	append(w, "g1");
	shipper_nudge(shipper);
	loop_timer_add(loop, 2, stop, NULL); /* the nudge taken, no batch started yet */
	loop_run(loop);
	CHECK(json_array_size(received) == 1 && shipper_backlog(shipper) > 0);
	run_until(2, 5000);
	for (int k = 0; k < 100 && shipper_backlog(shipper); k++)
		run_until(3, 1); /* one loop turn after the answer */
	CHECK(received_in_order("g", 2) && shipper_backlog(shipper) == 0);
	shipping_stop();
	spool_writer_close(w);
}

/* The controller away: the spool grows by segments and loses nothing; back, everything
 * arrives in order, and the writer keeps only SPOOL_SEGMENTS_KEEP free segments. */
static void test_controller_away(void)
{
	struct spool_writer *w = NULL;
	char sub[96];

	ASSERT((w = writer_in("away", 0, sub, sizeof(sub))));
	shipping_start(sub);
	refuse_next = 1000000;
	for (size_t i = 0; i < 24; i++) {
		char id[32];

		snprintf(id, sizeof(id), "a%zu", i);
		append_sized(w, id, SPOOL_SEGMENT_BYTES / 3 - 200);
	}
	CHECK(count_files(sub) >= 8);
	refuse_next = 0;
	shipper_nudge(shipper);
	run_until(24, 20000);
	CHECK(received_in_order("a", 24));
	until_acknowledged();
	/* The current segment is full: the next one, and the surplus goes. */
	append_sized(w, "a24", SPOOL_SEGMENT_BYTES / 3 - 200);
	CHECK(count_files(sub) <= 1 + SPOOL_SEGMENTS_KEEP);
	shipper_nudge(shipper);
	run_until(25, 5000);
	CHECK(received_in_order("a", 25));
	shipping_stop();
	spool_writer_close(w);
}

/* The lines of every segment of in, each with its newline (markers too). */
static int collect_line(const char *p, size_t len, void *data)
{
	return buf_append(data, p, len) || buf_append(data, "\n", 1) ? -1 : 0;
}

static char *spool_text_of(const char *in)
{
	struct buf text = BUF_INIT;

	if (spool_each_line(in, collect_line, &text) || buf_append(&text, "", 1)) {
		buf_free(&text);
		return strdup("");
	}
	return text.data;
}

/* A writer killed in the middle (its process ends without closing it): what it flushed
 * is shipped, exactly, and what it only added is not. A segment left half made (no size)
 * is deleted by the next writer of its worker, one left half reset (an odd generation)
 * taken as free. */
static void test_killed_writer(void)
{
	struct spool_writer *w = NULL;
	char sub[96], path[160];
	struct spool_head *h;
	char *text;
	pid_t pid;
	int fd, status = -1;

	snprintf(sub, sizeof(sub), "%s/killed", dir);
	pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		json_t *rec = json_pack("{s:s}", "activationId", "k5");

		if (spool_writer_open(sub, 4, &w))
			_exit(1);
		for (int i = 0; i < 5; i++) {
			char id[8];
			json_t *r;

			snprintf(id, sizeof(id), "k%d", i);
			r = json_pack("{s:s,s:s}", "activationId", id, "namespace", "guest");
			if (spool_append(w, r))
				_exit(1);
			json_decref(r);
		}
		(void)spool_add(w, rec); /* never flushed */
		_exit(0);
	}
	ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status));
	shipping_start(sub);
	shipper_nudge(shipper);
	run_until(6, 2000);
	CHECK(received_in_order("k", 5));
	shipping_stop();

	snprintf(path, sizeof(path), "%s/w4-7.spool", sub);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/w4-1.spool", sub);
	fd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT(fd >= 0);
	h = mmap(NULL, SPOOL_HEAD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ASSERT(h != MAP_FAILED);
	h->gen |= 1;
	ASSERT(spool_writer_open(sub, 4, &w) == 0);
	CHECK(count_files(sub) == 1); /* w4-1 reused, w4-7 gone */
	CHECK(!(h->gen & 1) && h->end == SPOOL_HEAD_BYTES && h->acked == SPOOL_HEAD_BYTES);
	append(w, "k6");
	CHECK(h->end > SPOOL_HEAD_BYTES);
	spool_writer_close(w);

	/* A head whose end lies past its file: no reader trusts its lines, and the next
	 * writer takes it as free. */
	h->end = 1ull << 40;
	text = spool_text_of(sub);
	CHECK(!strstr(text, "k6"));
	free(text);
	ASSERT(spool_writer_open(sub, 4, &w) == 0);
	CHECK(count_files(sub) == 1 && h->end == SPOOL_HEAD_BYTES && !(h->gen & 1));
	munmap(h, SPOOL_HEAD_BYTES);
	spool_writer_close(w);
}

/* Ships one spool file of an earlier version, of the given text, from its own directory to the fake controller,
 * until want records arrived (or 5 s). */
static void ship_file(const char *name, const char *text, size_t want)
{
	struct http_server_opts o = { .max_body = 16 << 20 };
	static struct ctl_targets targets;
	char sub[96], path[160], url[64];
	struct mailbox *mb;
	struct ctlclient *cc;
	struct shipper *s;

	snprintf(sub, sizeof(sub), "%s/%s", dir, name);
	snprintf(path, sizeof(path), "%s/w0-1.ndjson", sub);
	ASSERT(mkdir(sub, 0700) == 0 && file_write_atomic(path, text, strlen(text), 0600) == 0);
	/* as at a node's start: the file of an earlier version moves into a segment */
	ASSERT(spool_recover(sub, 9) == 0);
	loop = loop_new();
	mb = mailbox_new(loop);
	fake = http_server_new(loop, &o, fake_controller, NULL);
	ASSERT(loop && mb && fake && http_server_listen(fake, "127.0.0.1:0", false) == 0);
	snprintf(url, sizeof(url), "127.0.0.1:%d", http_server_port(fake));
	ASSERT(ctl_targets_parse(&targets, url) == 0);
	cc = ctlclient_new(loop, &targets, "token");
	s = shipper_new(loop, mb, sub, cc);
	run_until(want, 5000);
	/* Until the shipper read the answer: no call left in flight to leak. */
	for (int i = 0; i < 100 && !shipper_shipped(s); i++)
		run_until(want + 1, 10);
	CHECK(shipper_shipped(s) > 0);
	shipper_free(s);
	ctlclient_free(cc);
	http_server_free(fake);
	mailbox_free(mb);
	loop_free(loop);
}

/* Records go as JSON lines, a bad line among them as it is (the controller refuses it
 * alone); to a controller of an earlier version, which answers lines with 415, in the old
 * form, without the bad line, which would make it refuse the whole batch. */
static void test_ship_lines_and_old_form(void)
{
	static const char text[] = "{\"activationId\":\"o1\"}\nnot json\n{\"activationId\":\"o2\"}\n";

	received = json_array();
	lines_batches = document_batches = 0;
	ship_file("lines", text, 3);
	CHECK(json_array_size(received) == 3 && lines_batches == 1 && document_batches == 0);
	CHECK(!strcmp(json_string_value(json_array_get(received, 1)) ?: "", "?"));
	json_decref(received);

	received = json_array();
	lines_batches = document_batches = 0;
	old_controller = 1;
	ship_file("old", text, 2);
	old_controller = 0;
	CHECK(json_array_size(received) == 2 && lines_batches == 0 && document_batches == 1);
	CHECK(!strcmp(json_string_value(json_array_get(received, 1)) ?: "", "o2"));
	json_decref(received);
}

/* A batch that cannot get a segment (here the file size limit, as a full disk would
 * refuse the blocks) is refused whole and stays for the next flush: nothing of it is in
 * the spool meanwhile, and all of it is, in order, once the disk has room. */
static void test_full_disk(void)
{
	struct rlimit lim, small;
	struct spool_writer *w = NULL;
	json_t *big = record_of("b", SPOOL_SEGMENT_BYTES);
	char sub[96], *text;

	ASSERT((w = writer_in("full", 7, sub, sizeof(sub))));
	append(w, "a");
	ASSERT(getrlimit(RLIMIT_FSIZE, &lim) == 0);
	small = lim;
	small.rlim_cur = 60;
	signal(SIGXFSZ, SIG_IGN);
	ASSERT(setrlimit(RLIMIT_FSIZE, &small) == 0);
	CHECK(spool_append(w, big) < 0); /* needs a segment of its own */
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	text = spool_text_of(sub);
	CHECK(strstr(text, "\"a\"") && !strstr(text, "\"b\""));
	free(text);
	append(w, "c");
	text = spool_text_of(sub);
	CHECK(strstr(text, "\"a\"") && strstr(text, "\"b\"") && strstr(text, "\"c\"") &&
	      strstr(text, "\"b\"") < strstr(text, "\"c\""));
	free(text);
	json_decref(big);
	spool_writer_close(w);
}

/* Lines in the spool of batch_dir. */
static int spool_lines(const char *batch_dir)
{
	char *text = spool_text_of(batch_dir);
	int n = 0;

	for (char *p = text; (p = strchr(p, '\n')); p++)
		n++;
	free(text);
	return n;
}

/* spool_add batches: nothing is in the file until spool_flush (one write), and closing
 * the writer flushes what is left. */
static void test_batch(void)
{
	char batch_dir[160];
	struct spool_writer *w = NULL;
	json_t *rec = json_pack("{s:s}", "activationId", "x1");

	snprintf(batch_dir, sizeof(batch_dir), "%s/batch", dir);
	ASSERT(rec && spool_writer_open(batch_dir, 0, &w) == 0);
	CHECK(spool_add(w, rec) == 0 && spool_add(w, rec) == 0);
	CHECK(spool_lines(batch_dir) == 0);
	CHECK(spool_flush(w) == 0);
	CHECK(spool_lines(batch_dir) == 2);
	CHECK(spool_flush(w) == 0); /* nothing to write */
	CHECK(spool_add(w, rec) == 0);
	spool_writer_close(w);
	CHECK(spool_lines(batch_dir) == 3);
	json_decref(rec);
}

#define LOST "0123456789abcdef0123456789abcdef"
#define DONE "fedcba9876543210fedcba9876543210"

/* Acceptance markers written with the fallback's text: after a restart, the marker whose
 * activation never got its record has its fallback written, byte for byte; the other not. */
static void test_accept_recovered(void)
{
	static const char lost[] = "{\"activationId\":\"" LOST "\",\"namespace\":\"guest\"}";
	static const char done[] = "{\"activationId\":\"" DONE "\",\"namespace\":\"guest\"}";
	struct spool_writer *w = NULL;
	char sub[96], *text, *fallback;

	ASSERT((w = writer_in("accept", 0, sub, sizeof(sub))));
	CHECK(spool_accept(w, LOST, lost, strlen(lost)) == 0);
	CHECK(spool_accept(w, DONE, "{}", 2) == 0);
	CHECK(spool_add_text(w, done, strlen(done)) == 0);
	CHECK(spool_flush(w) == 0);
	spool_writer_close(w);
	CHECK(spool_recover(sub, 9) >= 0);
	text = spool_text_of(sub);
	/* the two markers, DONE's record, then LOST's fallback as worker 9's */
	fallback = strstr(text, done);
	fallback = fallback ? strchr(fallback, '\n') + 1 : NULL;
	CHECK(fallback && !strncmp(fallback, lost, strlen(lost)) &&
	      !strcmp(fallback + strlen(lost), "\n"));
	free(text);
	CHECK(count_files(sub) == 2);
}

/* A marker whose activation is still running outlives the reuse of its segment (it is
 * written again to the next one): a stop after the ring went round still finds it and
 * writes its fallback; a marker whose record came is not carried, and gets none. An
 * activation accepted twice keeps one marker, the newer: only its fallback is carried. */
static void test_marker_outlives_reuse(void)
{
	static const char older[] = "{\"activationId\":\"" LOST "\",\"namespace\":\"older\"}";
	static const char lost[] = "{\"activationId\":\"" LOST "\",\"namespace\":\"guest\"}";
	static const char done[] = "{\"activationId\":\"" DONE "\",\"namespace\":\"guest\"}";
	struct spool_writer *w = NULL;
	uint64_t made;
	char sub[96], *text, *p;
	int fallbacks = 0;

	ASSERT((w = writer_in("carry", 0, sub, sizeof(sub))));
	made = spool_segments_made();
	CHECK(spool_accept(w, LOST, older, strlen(older)) == 0);
	CHECK(spool_accept(w, LOST, lost, strlen(lost)) == 0);
	CHECK(spool_accept(w, DONE, "{}", 2) == 0);
	CHECK(spool_flush(w) == 0);
	CHECK(spool_add_text(w, done, strlen(done)) == 0);
	spool_settle(w, DONE);
	CHECK(spool_flush(w) == 0);
	shipping_start(sub);
	for (size_t i = 0; i < 12; i++) { /* four segments' worth: the first is reused */
		char id[32];

		snprintf(id, sizeof(id), "m%zu", i);
		append_sized(w, id, SPOOL_SEGMENT_BYTES / 3 - 200);
		shipper_nudge(shipper);
		run_until(i + 2, 5000);
		until_acknowledged();
	}
	CHECK(json_array_size(received) == 13 &&
	      !strcmp(json_string_value(json_array_get(received, 0)) ?: "", DONE));
	CHECK(spool_segments_made() - made <= 2); /* the ring went round */
	shipping_stop();
	spool_writer_close(w);
	CHECK(spool_recover(sub, 9) >= 0);
	text = spool_text_of(sub);
	for (p = text; (p = strstr(p, lost)); p += strlen(lost))
		fallbacks += p > text && p[-1] == '\n'; /* a line of its own, not a marker's */
	CHECK(fallbacks == 1);
	CHECK(!strstr(text, older)); /* its segment reused: carried, it would be there */
	CHECK(!strstr(text, "\"accepted\":\"" DONE));
	free(text);
}

/* The files of an earlier version (w<worker>-<seq>.ndjson and .acked) move into segments
 * at the start: the lines past the acknowledged offset, and the markers before it; a torn
 * last line does not; the old files go. */
static void test_old_files_moved(void)
{
	static const char marker[] = "{\"accepted\":\"" LOST "\",\"fallback\":{\"activationId\":\"" LOST "\"}}\n";
	static const char shipped[] = "{\"activationId\":\"s1\"}\n";
	static const char waiting[] = "{\"activationId\":\"w1\"}\n";
	char sub[96], path[160], acked[32], text[512], *got;

	snprintf(sub, sizeof(sub), "%s/moved", dir);
	snprintf(text, sizeof(text), "%s%s%s{\"activationId\":\"torn", marker, shipped, waiting);
	snprintf(acked, sizeof(acked), "%020zu\n", strlen(marker) + strlen(shipped));
	ASSERT(mkdir(sub, 0700) == 0);
	snprintf(path, sizeof(path), "%s/w2-5.ndjson", sub);
	ASSERT(file_write_atomic(path, text, strlen(text), 0600) == 0);
	snprintf(path, sizeof(path), "%s/w2-5.ndjson.acked", sub);
	ASSERT(file_write_atomic(path, acked, strlen(acked), 0600) == 0);
	CHECK(spool_recover(sub, 9) >= 0);
	got = spool_text_of(sub);
	/* worker 2's segment: the marker and w1; worker 9's: the marker's fallback */
	snprintf(text, sizeof(text), "%s%s{\"activationId\":\"" LOST "\"}\n", marker, waiting);
	CHECK(!strcmp(got, text));
	free(got);
	CHECK(access(path, F_OK) != 0);
	snprintf(path, sizeof(path), "%s/w2-5.ndjson", sub);
	CHECK(access(path, F_OK) != 0);
	CHECK(count_files(sub) == 2);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	RUN(test_ship_retry_and_restart);
	RUN(test_ring_reused);
	RUN(test_controller_away);
	RUN(test_backlog_gauge);
	RUN(test_ship_lines_and_old_form);
	RUN(test_full_disk);
	RUN(test_killed_writer);
	RUN(test_batch);
	RUN(test_accept_recovered);
	RUN(test_old_files_moved);
	RUN(test_marker_outlives_reuse);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	TEST_EXIT();
}
