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


/* A spool file as the shipper knows it: kept open between batches, so that a batch costs a
 * read and a write rather than a directory listing and four opens. */
struct spool_entry {
	struct spool_file f;
	char path[PATH_MAX + 64];
	int fd;       /* the records, read; -1 until first read */
	int acked_fd; /* <path>.acked, written in place; -1 until first written */
	uint64_t acked;
};

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
	/* The spool files, oldest first, as last listed. The directory is listed again after
	 * SCAN_MS, or sooner when a worker's newest file is due to rotate. */
	struct spool_entry *files;
	size_t n_files;
	uint64_t listed_ms;
	bool relist;
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
static int write_acked(struct spool_entry *e, uint64_t off)
{
	char text[32];
	int len;

	if (e->acked_fd < 0) {
		char path[PATH_MAX + 80];

		snprintf(path, sizeof(path), "%s.acked", e->path);
		e->acked_fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (e->acked_fd < 0)
			return -errno;
	}
	len = snprintf(text, sizeof(text), "%020llu\n", (unsigned long long)off);
	if (pwrite(e->acked_fd, text, (size_t)len, 0) != len)
		return errno ? -errno : -EIO;
	return 0;
}

static void entry_close(struct spool_entry *e)
{
	if (e->fd >= 0)
		close(e->fd);
	if (e->acked_fd >= 0)
		close(e->acked_fd);
	e->fd = e->acked_fd = -1;
}

static void remove_file(struct spool_entry *e)
{
	char path[PATH_MAX + 80];

	entry_close(e);
	snprintf(path, sizeof(path), "%s.acked", e->path);
	(void)unlink(e->path);
	(void)unlink(path);
}

static struct spool_entry *file_find(struct shipper *s, const char *path)
{
	for (size_t i = 0; i < s->n_files; i++)
		if (!strcmp(s->files[i].path, path))
			return &s->files[i];
	return NULL;
}

/* Lists the directory again: files still there keep their descriptors and offsets, new
 * ones read their offset from disk, gone ones are closed. */
static int relist(struct shipper *s)
{
	struct spool_file *listed = NULL;
	struct spool_entry *files;
	size_t n = 0;
	int err = spool_list_files(s->dir, &listed, &n);

	if (err)
		return err;
	files = calloc(n ? n : 1, sizeof(*files));
	if (!files) {
		free(listed);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct spool_entry *e = &files[i], *old;

		e->f = listed[i];
		snprintf(e->path, sizeof(e->path), "%s/%s", s->dir, listed[i].name);
		old = file_find(s, e->path);
		if (old) {
			e->fd = old->fd;
			e->acked_fd = old->acked_fd;
			e->acked = old->acked;
			old->fd = old->acked_fd = -1; /* moved */
		} else {
			e->fd = e->acked_fd = -1;
			e->acked = read_acked(e->path);
		}
	}
	for (size_t i = 0; i < s->n_files; i++)
		entry_close(&s->files[i]);
	free(s->files);
	free(listed);
	s->files = files;
	s->n_files = n;
	s->listed_ms = loop_now_ms(s->loop);
	s->relist = false;
	return 0;
}

static void forget_file(struct shipper *s, size_t i)
{
	memmove(&s->files[i], &s->files[i + 1], (s->n_files - i - 1) * sizeof(*s->files));
	s->n_files--;
}

static int acked_set(struct spool_entry *e, uint64_t off)
{
	e->acked = off;
	return write_acked(e, off);
}

static void on_acked(int status, json_t *body, void *data)
{
	struct shipper *s = data;
	struct spool_entry *entry;

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
	entry = file_find(s, s->file);
	if (!entry || acked_set(entry, s->batch_end))
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

uint64_t shipper_read_batch(int fd, uint64_t off, struct buf *body, unsigned *records,
			    uint64_t *size)
{
	char *chunk = NULL;
	struct stat st;
	ssize_t n = 0;
	uint64_t end = off;

	*records = 0;
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

static bool relist_due(struct shipper *s)
{
	return s->relist || !s->listed_ms || loop_now_ms(s->loop) - s->listed_ms >= SCAN_MS;
}

static void ship_next(struct shipper *s)
{
	uint64_t backlog = 0;

	if (s->in_flight)
		return;
	loop_timer_cancel(s->loop, s->timer);
	s->timer = NULL;
	s->timer_keep = false;
	__atomic_store_n(&s->nudged, 0, __ATOMIC_RELAXED);
	if (relist_due(s) && relist(s))
		goto rearm;
	for (size_t i = 0; i < s->n_files; i++) {
		struct spool_entry *e = &s->files[i];
		bool closed = i + 1 < s->n_files && s->files[i + 1].f.worker == e->f.worker;
		struct buf body = BUF_INIT;
		uint64_t end, size = 0;
		unsigned records;

		if (e->fd < 0 && (e->fd = open(e->path, O_RDONLY | O_CLOEXEC)) < 0) {
			s->relist = true; /* gone meanwhile */
			continue;
		}
		end = shipper_read_batch(e->fd, e->acked, &body, &records, &size);
		backlog += size > e->acked ? size - e->acked : 0;
		/* Its worker is about to start the next file: look for it on the next batch. */
		if (!closed && size >= SPOOL_ROTATE_BYTES)
			s->relist = true;
		if (end > e->acked && !records) /* only markers: nothing to send, move on */
			(void)acked_set(e, end);
		if (end == e->acked) {
			buf_free(&body);
			/* Fully acknowledged and never written again (a torn last line of a
			 * crashed run has no newline and is never shipped). */
			if (closed) {
				remove_file(e);
				forget_file(s, i--);
			}
			continue;
		}
		snprintf(s->file, sizeof(s->file), "%s", e->path);
		s->batch_end = end;
		s->batch_records = records;
		s->in_flight = post_batch(s, &body);
		buf_free(&body);
		if (s->in_flight)
			break;
	}
	s->backlog = backlog;
rearm:
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
	for (size_t i = 0; i < s->n_files; i++)
		entry_close(&s->files[i]);
	free(s->files);
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
