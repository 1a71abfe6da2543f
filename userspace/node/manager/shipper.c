// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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


/* A segment as the shipper knows it: its head mapped, its records read with pread. */
struct spool_entry {
	struct spool_file f;
	char path[PATH_MAX + 64];
	int fd;
	struct spool_head *head;
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
	/* The segments, as last listed. The directory is listed again after SCAN_MS, or as
	 * soon as a writer of this process made a segment. */
	struct spool_entry *files;
	size_t n_files;
	uint64_t listed_ms;
	uint64_t made_seen; /* spool_segments_made() at the last listing */
	/* the batch in flight */
	char file[PATH_MAX + 64];
	uint64_t batch_gen, batch_end;
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

static void entry_close(struct spool_entry *e)
{
	if (e->head)
		munmap(e->head, SPOOL_HEAD_BYTES);
	if (e->fd >= 0)
		close(e->fd);
	e->head = NULL;
	e->fd = -1;
}

/* Opens a segment and maps its head; a segment still being made (shorter than its head)
 * waits for the next listing. */
static int entry_open(struct spool_entry *e)
{
	struct stat st;
	void *head;

	e->fd = open(e->path, O_RDWR | O_CLOEXEC);
	if (e->fd < 0)
		return -errno;
	if (fstat(e->fd, &st) || (uint64_t)st.st_size < SPOOL_HEAD_BYTES)
		goto fail;
	head = mmap(NULL, SPOOL_HEAD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, e->fd, 0);
	if (head == MAP_FAILED)
		goto fail;
	e->head = head;
	return 0;
fail:
	close(e->fd);
	e->fd = -1;
	return -EAGAIN;
}

static struct spool_entry *file_find(struct shipper *s, const char *path)
{
	for (size_t i = 0; i < s->n_files; i++)
		if (!strcmp(s->files[i].path, path))
			return &s->files[i];
	return NULL;
}

/* Lists the directory again: segments still there keep their descriptors and mappings,
 * new ones are opened, gone ones closed. A writer never reuses a name while this process
 * runs (spool.c numbers its segments upwards). */
static int relist(struct shipper *s)
{
	struct spool_file *listed = NULL;
	struct spool_entry *files;
	uint64_t made = spool_segments_made();
	size_t n = 0, kept = 0;
	int err = spool_list_files(s->dir, &listed, &n);

	if (err)
		return err;
	files = calloc(n ? n : 1, sizeof(*files));
	if (!files) {
		free(listed);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct spool_entry *e = &files[kept], *old;

		e->f = listed[i];
		snprintf(e->path, sizeof(e->path), "%s/%s", s->dir, listed[i].name);
		old = file_find(s, e->path);
		if (old) {
			e->fd = old->fd;
			e->head = old->head;
			old->fd = -1; /* moved */
			old->head = NULL;
		} else if (entry_open(e)) {
			continue;
		}
		kept++;
	}
	for (size_t i = 0; i < s->n_files; i++)
		entry_close(&s->files[i]);
	free(s->files);
	free(listed);
	s->files = files;
	s->n_files = kept;
	s->listed_ms = loop_now_ms(s->loop);
	s->made_seen = made;
	return 0;
}

/* The acknowledged offset of a batch of generation gen: a segment whose generation moved
 * meanwhile (never while a batch of it is unacknowledged) is left alone. */
static void acked_set(struct spool_entry *e, uint64_t gen, uint64_t off)
{
	uint64_t g, end, acked;

	if (spool_head_read(e->head, &g, &end, &acked) && g == gen && off > acked && off <= end)
		__atomic_store_n(&e->head->acked, off, __ATOMIC_RELEASE);
}

/*
 * The bytes spooled and not yet acknowledged, as the heads say now, for the metrics'
 * gauge (read by the workers' threads). Counted when a batch starts, when its answer
 * comes, and when a nudge finds the shipper idle (records waiting for the coalescing
 * delay are backlog already); while a batch is in flight, the count of its start.
 */
static void count_backlog(struct shipper *s)
{
	uint64_t sum = 0, g, end, acked;

	for (size_t i = 0; i < s->n_files; i++)
		if (spool_head_read(s->files[i].head, &g, &end, &acked) && end > acked)
			sum += end - acked;
	__atomic_store_n(&s->backlog, sum, __ATOMIC_RELAXED);
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
	if (entry)
		acked_set(entry, s->batch_gen, s->batch_end);
	count_backlog(s);
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

uint64_t shipper_read_batch(int fd, uint64_t off, uint64_t end, struct buf *body,
			    unsigned *records)
{
	char *chunk = NULL;
	ssize_t n = 0;
	uint64_t upto = off;

	*records = 0;
	if (end <= off)
		goto out; /* nothing new: the usual scan of an acknowledged segment */
	for (size_t want = BATCH_BYTES;; want = want * 4 < RECORD_MAX ? want * 4 : RECORD_MAX) {
		/* No more than the segment holds past off: most reads are a few records, and a
		 * 2 MB buffer each time is an mmap, page faults and a munmap. */
		size_t len = end - off < want ? (size_t)(end - off) : want;

		free(chunk);
		chunk = malloc(len);
		if (!chunk)
			goto out;
		n = pread(fd, chunk, len, (off_t)off);
		if (n <= 0)
			goto out;
		/* A first record longer than the read: read again, longer. */
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
		upto = off + (uint64_t)(nl + 1 - chunk);
		if (*records >= BATCH_RECORDS)
			break;
	}
out:
	free(chunk);
	return upto;
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
	return !s->listed_ms || spool_segments_made() != s->made_seen ||
	       loop_now_ms(s->loop) - s->listed_ms >= SCAN_MS;
}

/* The segment to ship from: the oldest generation of the first worker with records not
 * yet acknowledged (skip: entries already found to hold no whole line); NULL if none. */
static struct spool_entry *oldest_waiting(struct shipper *s, const bool *skip, uint64_t *gen,
					  uint64_t *acked, uint64_t *end)
{
	struct spool_entry *best = NULL;

	for (size_t i = 0; i < s->n_files; i++) {
		struct spool_entry *e = &s->files[i];
		uint64_t g, en, ack;

		if (!spool_head_read(e->head, &g, &en, &ack) || en <= ack)
			continue;
		if (skip[i] || (best && (best->f.worker < e->f.worker ||
					 (best->f.worker == e->f.worker && *gen < g))))
			continue;
		best = e;
		*gen = g;
		*acked = ack;
		*end = en;
	}
	return best;
}

static void ship_next(struct shipper *s)
{
	bool *skip = NULL;

	if (s->in_flight)
		return;
	loop_timer_cancel(s->loop, s->timer);
	s->timer = NULL;
	s->timer_keep = false;
	__atomic_store_n(&s->nudged, 0, __ATOMIC_RELAXED);
	if (relist_due(s) && relist(s))
		goto rearm;
	count_backlog(s);
	skip = calloc(s->n_files ? s->n_files : 1, sizeof(*skip));
	if (!skip)
		goto rearm;
	for (;;) {
		uint64_t gen = 0, acked = 0, end = 0, upto;
		struct spool_entry *e = oldest_waiting(s, skip, &gen, &acked, &end);
		struct buf body = BUF_INIT;
		unsigned records;

		if (!e)
			break;
		upto = shipper_read_batch(e->fd, acked, end, &body, &records);
		if (upto > acked && !records) { /* only markers: nothing to send, move on */
			acked_set(e, gen, upto);
			buf_free(&body);
			continue;
		}
		if (upto == acked) { /* no whole line (a record past RECORD_MAX) */
			skip[e - s->files] = true;
			buf_free(&body);
			continue;
		}
		snprintf(s->file, sizeof(s->file), "%s", e->path);
		s->batch_gen = gen;
		s->batch_end = upto;
		s->batch_records = records;
		s->in_flight = post_batch(s, &body);
		buf_free(&body);
		if (s->in_flight)
			break;
		skip[e - s->files] = true;
	}
rearm:
	free(skip);
	if (!s->in_flight)
		s->timer = loop_timer_add(s->loop, SCAN_MS, ship_timer, s);
}

static void on_nudge(void *arg)
{
	struct shipper *s = arg;

	/* In flight: the answer ships what came meanwhile. */
	if (s->in_flight)
		return;
	if (!(relist_due(s) && relist(s)))
		count_backlog(s);
	/* Soon: already coming. */
	if (s->timer_keep)
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
	return __atomic_load_n(&s->backlog, __ATOMIC_RELAXED);
}
