// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "mailbox.h"
#include "node/activation/spool.h"
#include "node/manager/shipper.h"
#include "util.h"


#define BATCH_RECORDS 500
#define BATCH_BYTES (2u << 20)
/* One record is at most a 1 MB result and 10 MB of logs, with their JSON escapes: a batch
 * read that holds no whole line is made this long at the most. */
#define RECORD_MAX (64u << 20)
#define RETRY_MS 1000
#define SCAN_MS 1000
/* A nudge ships after this long, so that a steady stream of answers becomes batches of
 * records rather than one controller request (and one SQLite commit) per activation. */
#define COALESCE_MS 20
/* A controller of an earlier version answers JSON lines with 415: batches go to it in the
 * old form, {"activations": [...]}, and lines are tried again after this long (it may
 * have been upgraded). */
#define LEGACY_RETRY_MS (60 * 1000)


struct shipper {
	struct loop *loop;
	struct mailbox *mailbox;
	struct ctlclient *cc;
	char dir[PATH_MAX];
	struct loop_timer *timer;
	bool timer_keep; /* the pending timer coalesces or backs off: nudges leave it */
	bool in_flight;
	uint64_t legacy_until; /* loop time before which batches go in the old form */
	int nudged;
	uint64_t shipped;
	uint64_t backlog;
	/* Each file's shipped offset, as on disk: read once, not on every batch. */
	struct acked_offset {
		char path[PATH_MAX + 64];
		uint64_t off;
	} *acked;
	size_t n_acked;
	/* the batch in flight */
	char file[PATH_MAX + 64];
	uint64_t batch_end;
	unsigned batch_records;
};

static void ship_next(struct shipper *s);
static bool shipping_legacy(struct shipper *s);

static void ship_timer(struct loop *loop, void *data)
{
	struct shipper *s = data;

	s->timer = NULL;
	s->timer_keep = false;
	ship_next(s);
}

static uint64_t read_acked(const char *file)
{
	char path[PATH_MAX + 80], *text;
	uint64_t v = 0;

	snprintf(path, sizeof(path), "%s.acked", file);
	text = file_read_all(path, NULL);
	if (text)
		(void)parse_u64(strtok(text, "\n") ?: "0", &v);
	free(text);
	return v;
}

/*
 * Progress is overwritten in place, fixed width, without fsync: it survives a crash of
 * the process (the page cache keeps it), and if a power cut loses or tears it the
 * batches after the last durable value are shipped again, which the controller takes
 * idempotently by activation id.
 */
static int write_acked(const char *file, uint64_t off)
{
	char path[PATH_MAX + 80], text[32];
	int fd, len, err = 0;

	snprintf(path, sizeof(path), "%s.acked", file);
	len = snprintf(text, sizeof(text), "%020llu\n", (unsigned long long)off);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, text, (size_t)len, 0) != len)
		err = errno ? -errno : -EIO;
	close(fd);
	return err;
}

static void remove_file(const char *file)
{
	char path[PATH_MAX + 80];

	snprintf(path, sizeof(path), "%s.acked", file);
	(void)unlink(file);
	(void)unlink(path);
}

static struct acked_offset *acked_find(struct shipper *s, const char *file)
{
	for (size_t i = 0; i < s->n_acked; i++)
		if (!strcmp(s->acked[i].path, file))
			return &s->acked[i];
	return NULL;
}

static uint64_t acked_get(struct shipper *s, const char *file)
{
	struct acked_offset *a = acked_find(s, file), *grown;

	if (a)
		return a->off;
	grown = realloc(s->acked, (s->n_acked + 1) * sizeof(*grown));
	if (!grown)
		return read_acked(file);
	s->acked = grown;
	a = &s->acked[s->n_acked++];
	snprintf(a->path, sizeof(a->path), "%s", file);
	a->off = read_acked(file);
	return a->off;
}

static int acked_set(struct shipper *s, const char *file, uint64_t off)
{
	struct acked_offset *a = acked_find(s, file);

	if (a)
		a->off = off;
	return write_acked(file, off);
}

static void acked_forget(struct shipper *s, const char *file)
{
	struct acked_offset *a = acked_find(s, file);

	if (a)
		*a = s->acked[--s->n_acked];
}

static void on_acked(int status, json_t *body, void *data)
{
	struct shipper *s = data;

	s->in_flight = false;
	if (status == 415 && !shipping_legacy(s)) {
		pr_warn("spool: the controller does not take JSON lines; shipping in the old form");
		s->legacy_until = loop_now_ms(s->loop) + LEGACY_RETRY_MS;
		ship_next(s);
		return;
	}
	if (status == 200) {
		json_t *rejected = json_object_get(body, "rejected");

		if (json_array_size(rejected))
			pr_warn("spool: the controller rejected %zu records of %s",
				json_array_size(rejected), s->file);
	} else if (status == 400) {
		/* Never retry what the controller calls malformed: it would block the spool. */
		pr_err("spool: the controller refused a batch of %s as malformed; skipping it",
		       s->file);
	} else {
		pr_warn("spool: shipping %s failed (%d); retrying", s->file, status);
		s->timer = loop_timer_add(s->loop, RETRY_MS, ship_timer, s);
		s->timer_keep = true;
		return;
	}
	if (acked_set(s, s->file, s->batch_end))
		pr_err("spool: cannot record progress for %s", s->file);
	if (status == 200)
		s->shipped += s->batch_records;
	if (s->batch_records >= BATCH_RECORDS) {
		ship_next(s); /* a backlog: no waiting */
		return;
	}
	/* What came in meanwhile goes with what comes in the next moment. */
	s->timer = loop_timer_add(s->loop, COALESCE_MS, ship_timer, s);
	s->timer_keep = s->timer != NULL;
	if (!s->timer)
		ship_next(s);
}

uint64_t shipper_read_batch(const char *file, uint64_t off, struct buf *body, unsigned *records,
			   uint64_t *size)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	char *chunk = NULL;
	struct stat st;
	ssize_t n = 0;
	uint64_t end = off;

	*records = 0;
	if (fd < 0)
		return off;
	if (fstat(fd, &st) == 0)
		*size = (uint64_t)st.st_size;
	if (*size <= off)
		goto out; /* nothing new: the usual scan of an acknowledged file */
	for (size_t want = BATCH_BYTES;; want = want * 4 < RECORD_MAX ? want * 4 : RECORD_MAX) {
		/* No more than the file holds past off: most reads are a few records, and a
		 * 2 MB buffer each time is an mmap, page faults and a munmap. */
		size_t len = *size - off < want ? (size_t)(*size - off) : want;

		free(chunk);
		chunk = malloc(len);
		if (!chunk)
			goto out;
		n = pread(fd, chunk, len, (off_t)off);
		if (n <= 0)
			goto out;
		/* A first record longer than the read: read again, longer (else it would
		 * look like a torn last line, never shipped, and its file deleted). */
		if ((size_t)n < want || memchr(chunk, '\n', (size_t)n) || want >= RECORD_MAX)
			break;
	}
	for (char *p = chunk, *nl; p < chunk + n && (nl = memchr(p, '\n', (size_t)(chunk + n - p)));
	     p = nl + 1) {
		/* Acceptance markers are for recovery, not for the controller. Lines go as
		 * they are: the controller parses each alone and refuses a bad one alone. */
		if (nl > p && !spool_line_is_marker(p, (size_t)(nl - p))) {
			buf_append(body, p, (size_t)(nl + 1 - p));
			(*records)++;
		}
		end = off + (uint64_t)(nl + 1 - chunk);
		if (*records >= BATCH_RECORDS)
			break;
	}
out:
	free(chunk);
	close(fd);
	return end;
}

/* A line that is no JSON object (a record cut by a failed write, the next one appended
 * to it) would make an old controller refuse its whole batch as malformed, and the
 * shipper skip all of it: such a line alone is left out. */
static bool line_is_object(const char *p, size_t len)
{
	json_t *j = json_parse(p, len, NULL, 0);
	bool ok = json_is_object(j);

	json_decref(j);
	if (!ok)
		pr_err("spool: a line of %zu bytes is no record; skipping it", len);
	return ok;
}

unsigned shipper_legacy_body(struct buf *lines, struct buf *body)
{
	char *p = lines->data, *line;
	unsigned n = 0;
	size_t len;

	buf_puts(body, "{\"activations\":[");
	while ((line = json_lines_next(&p, lines->data + lines->len, &len)))
		if (line_is_object(line, len)) {
			buf_puts(body, n++ ? "," : "");
			buf_append(body, line, len);
		}
	buf_puts(body, "]}");
	return n;
}

static bool shipping_legacy(struct shipper *s)
{
	return s->legacy_until && loop_now_ms(s->loop) < s->legacy_until;
}

/* Sends a batch of lines, in the form the controller takes. */
static bool post_batch(struct shipper *s, struct buf *lines)
{
	struct buf body = BUF_INIT;
	bool sent;

	if (!shipping_legacy(s))
		return !ctlclient_post_lines(s->cc, "/internal/v1/activations", lines->data,
					     lines->len, on_acked, s);
	(void)shipper_legacy_body(lines, &body);
	sent = !ctlclient_post_text(s->cc, "/internal/v1/activations", body.data, body.len,
				    on_acked, s);
	buf_free(&body);
	return sent;
}

static void ship_next(struct shipper *s)
{
	struct spool_file *files = NULL;
	size_t n = 0;
	uint64_t backlog = 0;

	if (s->in_flight)
		return;
	loop_timer_cancel(s->loop, s->timer);
	s->timer = NULL;
	s->timer_keep = false;
	__atomic_store_n(&s->nudged, 0, __ATOMIC_RELAXED);
	if (spool_list_files(s->dir, &files, &n))
		goto rearm;
	for (size_t i = 0; i < n; i++) {
		bool closed = i + 1 < n && files[i + 1].worker == files[i].worker;
		char path[PATH_MAX + 64];
		struct buf body = BUF_INIT;
		uint64_t acked, end, size = 0;
		unsigned records;

		snprintf(path, sizeof(path), "%s/%s", s->dir, files[i].name);
		acked = acked_get(s, path);
		end = shipper_read_batch(path, acked, &body, &records, &size);
		backlog += size > acked ? size - acked : 0;
		if (end > acked && !records) {
			/* Only markers: nothing to send, just move on. */
			(void)acked_set(s, path, end);
			acked = end;
		}
		if (end == acked) {
			buf_free(&body);
			/* Fully acknowledged and never written again (a torn last line of a
			 * crashed run has no newline and is never shipped). */
			if (closed) {
				remove_file(path);
				acked_forget(s, path);
			}
			continue;
		}
		snprintf(s->file, sizeof(s->file), "%s", path);
		s->batch_end = end;
		s->batch_records = records;
		s->in_flight = post_batch(s, &body);
		buf_free(&body);
		if (s->in_flight)
			break;
	}
	s->backlog = backlog;
rearm:
	free(files);
	if (!s->in_flight)
		s->timer = loop_timer_add(s->loop, SCAN_MS, ship_timer, s);
}

static void on_nudge(void *arg)
{
	struct shipper *s = arg;

	/* In flight: the answer ships what came meanwhile. Soon: already coming. */
	if (s->in_flight || s->timer_keep)
		return;
	loop_timer_cancel(s->loop, s->timer);
	s->timer = loop_timer_add(s->loop, COALESCE_MS, ship_timer, s);
	s->timer_keep = s->timer != NULL;
	if (!s->timer)
		ship_next(s);
}

struct shipper *shipper_new(struct loop *loop, struct mailbox *mb, const char *dir,
			    struct ctlclient *cc)
{
	struct shipper *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->cc = cc;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	s->mailbox = mb;
	s->timer = loop_timer_add(loop, 0, ship_timer, s);
	return s;
}

void shipper_free(struct shipper *s)
{
	if (!s)
		return;
	loop_timer_cancel(s->loop, s->timer);
	free(s->acked);
	free(s);
}

void shipper_nudge(struct shipper *s)
{
	/* One nudge in flight is enough: it ships everything there is. */
	if (s && __atomic_exchange_n(&s->nudged, 1, __ATOMIC_ACQ_REL) == 0)
		(void)mailbox_post(s->mailbox, on_nudge, s);
}

uint64_t shipper_shipped(struct shipper *s)
{
	return s->shipped;
}

uint64_t shipper_backlog(struct shipper *s)
{
	return s->backlog;
}
