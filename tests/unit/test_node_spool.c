// SPDX-License-Identifier: Apache-2.0
/* The spool: records appended, shipped in batches to a (fake) controller, retried after a
 * failure, acknowledged offsets kept, and nothing shipped twice or lost across a restart. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
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
		n += strstr(de->d_name, ".ndjson") && !strstr(de->d_name, ".acked");
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

	/* A restart: a new writer file, a new shipper; the first file is done and goes. */
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

/* A worker's file rotates under a running shipper (which keeps its files open and lists
 * the directory only now and then): the records of the new file are shipped, and the old
 * file, once acknowledged, is deleted. */
static void test_ship_after_rotation(void)
{
	struct http_server_opts o = { .max_body = 64 << 20 };
	static struct ctl_targets targets;
	struct spool_writer *w = NULL;
	char sub[96], url[64];
	struct mailbox *mb;
	struct ctlclient *cc;
	struct shipper *s;
	char *logs = malloc(SPOOL_ROTATE_BYTES);
	json_t *big;

	ASSERT(logs);
	memset(logs, 'x', SPOOL_ROTATE_BYTES - 1);
	logs[SPOOL_ROTATE_BYTES - 1] = '\0';
	big = json_pack("{s:s,s:s,s:[s]}", "activationId", "big", "namespace", "guest", "logs",
			logs);
	free(logs);
	snprintf(sub, sizeof(sub), "%s/rotate", dir);
	loop = loop_new();
	mb = mailbox_new(loop);
	fake = http_server_new(loop, &o, fake_controller, NULL);
	ASSERT(big && loop && mb && fake && http_server_listen(fake, "127.0.0.1:0", false) == 0);
	snprintf(url, sizeof(url), "127.0.0.1:%d", http_server_port(fake));
	ASSERT(ctl_targets_parse(&targets, url) == 0);
	cc = ctlclient_new(loop, &targets, "token");
	received = json_array();
	ASSERT(spool_writer_open(sub, 3, &w) == 0);
	s = shipper_new(loop, mb, sub, cc);

	append(w, "r1");
	shipper_nudge(s);
	run_until(1, 5000);
	CHECK(spool_append(w, big) == 0); /* past SPOOL_ROTATE_BYTES: the next record starts w3-2 */
	append(w, "r2");
	CHECK(count_files(sub) == 2);
	shipper_nudge(s);
	run_until(3, 10000);
	CHECK(json_array_size(received) == 3);
	CHECK(!strcmp(json_string_value(json_array_get(received, 2)) ?: "", "r2"));
	for (int i = 0; i < 500 && count_files(sub) != 1; i++)
		run_until(4, 10);
	CHECK(count_files(sub) == 1);

	shipper_free(s);
	spool_writer_close(w);
	json_decref(big);
	json_decref(received);
	ctlclient_free(cc);
	http_server_free(fake);
	mailbox_free(mb);
	loop_free(loop);
}

/* Ships one spool file of the given text from its own directory to the fake controller,
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

/* A record cut short by a failed write (here the file size limit, as a full disk would)
 * leaves nothing of itself in the file: it stays in the batch and is written whole by the
 * next flush, and the shipper reads exactly the whole records. */
static void test_cut_record_removed(void)
{
	struct rlimit lim, small;
	struct spool_writer *w = NULL;
	char sub[96], path[128];
	struct buf body = BUF_INIT;
	json_t *rec = json_pack("{s:s,s:s}", "activationId", "b", "namespace", "guest");
	uint64_t size = 0;
	unsigned records = 0;
	int fd;

	snprintf(sub, sizeof(sub), "%s/cut", dir);
	ASSERT(spool_writer_open(sub, 7, &w) == 0);
	append(w, "a");
	ASSERT(getrlimit(RLIMIT_FSIZE, &lim) == 0);
	small = lim;
	small.rlim_cur = 60; /* past the first record, inside the second */
	signal(SIGXFSZ, SIG_IGN);
	ASSERT(setrlimit(RLIMIT_FSIZE, &small) == 0);
	CHECK(spool_append(w, rec) < 0);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	append(w, "c");
	snprintf(path, sizeof(path), "%s/w7-1.ndjson", sub);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT(fd >= 0);
	(void)shipper_read_batch(fd, 0, &body, &records, &size);
	close(fd);
	CHECK(records == 3);
	CHECK(body.data && strstr(body.data, "\"a\"") && strstr(body.data, "\"b\"") &&
	      strstr(body.data, "\"c\""));
	buf_free(&body);
	json_decref(rec);
	spool_writer_close(w);
}

/* Lines in the one spool file of batch_dir. */
static int spool_lines(const char *batch_dir)
{
	char cmd[256];
	int n = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cat %s/*.ndjson | wc -l", batch_dir);
	f = popen(cmd, "r");
	if (f && fscanf(f, "%d", &n) != 1)
		n = -1;
	if (f)
		pclose(f);
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
	char sub[96], cmd[256], line[256] = "";
	FILE *f;

	snprintf(sub, sizeof(sub), "%s/accept", dir);
	ASSERT(spool_writer_open(sub, 0, &w) == 0);
	CHECK(spool_accept(w, LOST, lost, strlen(lost)) == 0);
	CHECK(spool_accept(w, DONE, "{}", 2) == 0);
	CHECK(spool_add_text(w, done, strlen(done)) == 0);
	CHECK(spool_flush(w) == 0);
	spool_writer_close(w);
	CHECK(spool_recover(sub, 9) >= 0);
	snprintf(cmd, sizeof(cmd), "cat %s/w9-*.ndjson", sub);
	f = popen(cmd, "r");
	ASSERT(f);
	CHECK(fgets(line, sizeof(line), f) && !strncmp(line, lost, strlen(lost)) &&
	      !strcmp(line + strlen(lost), "\n"));
	CHECK(!fgets(line, sizeof(line), f)); /* DONE has its record */
	pclose(f);
}

int main(void)
{
	char cmd[128];

	if (!mkdtemp(dir)) {
		printf("not ok - mkdtemp\n");
		return 1;
	}
	RUN(test_ship_retry_and_restart);
	RUN(test_ship_after_rotation);
	RUN(test_ship_lines_and_old_form);
	RUN(test_cut_record_removed);
	RUN(test_batch);
	RUN(test_accept_recovered);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)!system(cmd);
	TEST_EXIT();
}
