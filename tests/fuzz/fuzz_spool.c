// SPDX-License-Identifier: Apache-2.0
/*
 * The spool, read back (userspace/node/activation/spool.c, manager/shipper.c) and taken in
 * by the controller (controller/api/internal.c): the input is a spool file of an earlier
 * version as a killed node may leave it (records, acceptance markers, torn and bad lines).
 * A restart's recovery (spool_recover) moves it into segments and writes fallbacks, then
 * the shipper's batches are read from every segment and taken as the controller takes
 * them: as JSON lines, and in the old
 * {"activations": [...]} form, which must store the same records; the summary made of an
 * accepted line's text must be the one made of its tree.
 *
 * Besides not crashing, the promise that nothing accepted is lost: every line of the
 * file that is a record the controller accepts must arrive in a batch the controller can
 * read; a bad line may cost only itself, not the records around it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "activation.h"
#include "buf.h"
#include "fuzz.h"
#include "node_stub.h"
#include "json.h"
#include "log.h"
#include "node/activation/spool.h"
#include "node/manager/shipper.h"
#include "store.h"

static char dir[64];

static void clear_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[128];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		(void)unlink(path);
	}
	closedir(d);
}

static void cleanup(void)
{
	clear_dir();
	(void)rmdir(dir);
}

static void fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_spool: %s%s%.300s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

/* The records of the input the controller would store: complete lines that are no
 * markers and pass activation_check. */
static size_t acceptable_records(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	size_t n = 0;

	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
		size_t len = (size_t)(nl - p);
		json_t *j;

		if (!len || spool_line_is_marker(p, len))
			continue;
		j = json_parse(p, len, NULL, 0);
		if (j && !activation_check(j))
			n++;
		json_decref(j);
	}
	return n;
}

/* What the controller does with a batch in the old form (from a node that found it of an
 * earlier version); returns the records it would store. */
static size_t ingest_document(struct buf *body)
{
	json_t *j = json_parse(body->data, body->len, NULL, 0);
	json_t *list = json_object_get(j, "activations"), *rec;
	size_t i, stored = 0;

	if (!json_is_array(list) || json_array_size(list) > ACTIVATION_BATCH_MAX)
		fail("the controller cannot read a batch", body->data);
	json_array_foreach(list, i, rec)
		if (!activation_check(rec))
			stored++;
	json_decref(j);
	return stored;
}

/* The row the controller makes of a line (its summary of the line's own text) says what
 * the row made of its tree alone says. */
static void check_row(json_t *rec, const char *line, size_t len)
{
	struct activation_batch with = { 0 }, without = { 0 };
	json_t *a = NULL, *b = NULL;

	if (activation_batch_add(&with, rec, line, len) || activation_batch_add(&without, rec, NULL, 0))
		fail("a row cannot be made of an accepted record", line);
	a = json_parse(activation_row_text(&with, with.rows[0].summary_at),
		       strlen(activation_row_text(&with, with.rows[0].summary_at)), NULL, 0);
	b = json_parse(activation_row_text(&without, without.rows[0].summary_at),
		       strlen(activation_row_text(&without, without.rows[0].summary_at)), NULL, 0);
	if (!a || !json_equal(a, b))
		fail("the summary of a record's text is not that of its tree", line);
	json_decref(a);
	json_decref(b);
	activation_batch_free(&with);
	activation_batch_free(&without);
}

/* What the controller does with a batch of JSON lines (internal.c batch_from_lines), and
 * with the same batch in the old form: both must store the same records. Returns them. */
static size_t ingest(const struct buf *lines)
{
	struct buf cut = BUF_INIT, old = BUF_INIT, old_lines = BUF_INIT;
	char *p, *line;
	size_t stored = 0, len;

	buf_append(&cut, lines->data, lines->len);
	buf_append(&old_lines, lines->data, lines->len);
	p = cut.data;
	if (json_lines_count(cut.data, cut.data + cut.len) > ACTIVATION_BATCH_MAX)
		fail("the controller refuses a batch as too long", NULL);
	while ((line = json_lines_next(&p, cut.data + cut.len, &len))) {
		json_t *rec = json_parse(line, len, NULL, 0);

		if (rec && !activation_check(rec)) {
			check_row(rec, line, len);
			stored++;
		}
		json_decref(rec);
	}
	(void)shipper_legacy_body(&old_lines, &old);
	if (ingest_document(&old) != stored)
		fail("the old form of a batch stores other records", lines->data);
	buf_free(&cut);
	buf_free(&old);
	buf_free(&old_lines);
	return stored;
}

/* Ships every segment as the shipper does, batch after batch, up to its published end. */
static size_t ship_all(size_t *recovered)
{
	struct spool_file *files = NULL;
	size_t n = 0, stored = 0;

	if (spool_list_files(dir, &files, &n))
		abort();
	for (size_t i = 0; i < n; i++) {
		struct spool_head head;
		uint64_t gen, off, end, acked, upto;
		char path[128];
		unsigned records;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || pread(fd, &head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
		    !spool_head_read(&head, &gen, &end, &acked))
			abort();
		for (off = acked;; off = upto) {
			struct buf body = BUF_INIT;
			size_t got;

			upto = shipper_read_batch(fd, off, end, &body, &records);
			got = upto > off && records ? ingest(&body) : 0;
			if (files[i].worker == 1)
				*recovered += got;
			else
				stored += got;
			buf_free(&body);
			if (upto == off)
				break;
		}
		close(fd);
	}
	free(files);
	return stored;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t want, stored, recovered = 0;
	char path[128];
	int fd;

	if (!dir[0]) {
		log_set_level(LOG_LEVEL_ERR);
		fuzz_tmpdir(dir, sizeof(dir), "spool");
		atexit(cleanup);
	}
	clear_dir();
	snprintf(path, sizeof(path), "%s/w0-1.ndjson", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	/* A node's start: markers left without their record get their fallback, as a file
	 * of worker 1. */
	(void)spool_recover(dir, 1);
	want = acceptable_records(data, size);
	stored = ship_all(&recovered);
	if (stored != want) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%zu of %zu acceptable records would be stored", stored,
			 want);
		fail("records lost between the spool and the controller", msg);
	}
	return 0;
}
