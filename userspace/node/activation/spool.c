// SPDX-License-Identifier: Apache-2.0
#include <dirent.h>
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
#include "json_write.h"
#include "json.h"
#include "log.h"
#include "node/activation/spool.h"
#include "util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* The batch keeps up to this much memory between turns. */
#define SPOOL_BATCH_KEEP (1u << 20)
#define MARKER_BUCKETS 256
#define UNPLACED UINT_MAX

/* An acceptance marker whose activation has no record yet: kept so that it can be
 * written again before its segment is reused or deleted (else a stop of the node would
 * find no marker, and write no fallback, for an activation still running). */
struct marker {
	struct marker *next;
	unsigned num; /* the segment it is in; UNPLACED while in the batch */
	char id[33];
	size_t len;
	char line[]; /* with its newline */
};

struct segment {
	unsigned num;
	int fd;
	char *map; /* the whole file, shared */
	size_t size;
};

struct spool_writer {
	char dir[PATH_MAX];
	unsigned worker;
	unsigned next_num;
	uint64_t next_gen; /* even */
	struct segment *segs;
	size_t n_segs;
	int cur;     /* the segment written, -1 before the first flush */
	uint64_t end; /* cur's end, as published */
	struct buf batch; /* added, not yet in the spool (spool_add) */
	struct marker *markers[MARKER_BUCKETS];
	size_t n_markers, unplaced;
};

static uint64_t segments_made;

uint64_t spool_segments_made(void)
{
	return __atomic_load_n(&segments_made, __ATOMIC_RELAXED);
}

static struct spool_head *head_of(const struct segment *s)
{
	return (struct spool_head *)s->map;
}

bool spool_head_read(const struct spool_head *h, uint64_t *gen, uint64_t *end,
		     uint64_t *acked)
{
	if (memcmp(h->magic, SPOOL_MAGIC, sizeof(h->magic)))
		return false;
	for (int tries = 0; tries < 100; tries++) {
		uint64_t g = __atomic_load_n(&h->gen, __ATOMIC_ACQUIRE);

		*end = __atomic_load_n(&h->end, __ATOMIC_ACQUIRE);
		*acked = __atomic_load_n(&h->acked, __ATOMIC_ACQUIRE);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(g & 1) && __atomic_load_n(&h->gen, __ATOMIC_RELAXED) == g) {
			*gen = g;
			return *end >= SPOOL_HEAD_BYTES && *acked >= SPOOL_HEAD_BYTES;
		}
	}
	return false;
}

/* Empties a segment for reuse, as generation gen (even); its records are all
 * acknowledged, so the shipper has nothing of it in flight. */
static void segment_reset(struct segment *s, uint64_t gen)
{
	struct spool_head *h = head_of(s);

	__atomic_store_n(&h->gen, gen - 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&h->end, (uint64_t)SPOOL_HEAD_BYTES, __ATOMIC_RELAXED);
	__atomic_store_n(&h->acked, (uint64_t)SPOOL_HEAD_BYTES, __ATOMIC_RELAXED);
	__atomic_store_n(&h->gen, gen, __ATOMIC_RELEASE);
}

static bool segment_free(const struct segment *s)
{
	uint64_t gen, end, acked;

	return spool_head_read(head_of(s), &gen, &end, &acked) && acked >= end;
}

static void segment_path(const struct spool_writer *w, unsigned num, char *path, size_t len)
{
	snprintf(path, len, "%s/w%u-%u.spool", w->dir, w->worker, num);
}

static void segment_unmap(struct segment *s)
{
	if (s->map)
		munmap(s->map, s->size);
	if (s->fd >= 0)
		close(s->fd);
	s->map = NULL;
	s->fd = -1;
}

static int segment_map(struct segment *s)
{
	s->map = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return -errno;
	}
	return 0;
}

static int writer_keep(struct spool_writer *w, struct segment *s)
{
	struct segment *segs = realloc(w->segs, (w->n_segs + 1) * sizeof(*segs));

	if (!segs)
		return -ENOMEM;
	w->segs = segs;
	w->segs[w->n_segs++] = *s;
	return 0;
}

/*
 * A new segment with room for at least need bytes of records. Its blocks are allocated
 * (a full disk fails here, not as a SIGBUS on a store) and its pages populated in one
 * call, rather than faulted in one by one by the records.
 */
static int segment_make(struct spool_writer *w, size_t need, int *index)
{
	struct segment s = { .num = w->next_num, .fd = -1 };
	size_t room = need > SPOOL_SEGMENT_BYTES ? need : SPOOL_SEGMENT_BYTES;
	char path[PATH_MAX + 64];
	struct spool_head *h;
	int err;

	s.size = ((SPOOL_HEAD_BYTES + room + 4095) / 4096) * 4096;
	segment_path(w, s.num, path, sizeof(path));
	s.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s.fd < 0)
		return -errno;
	w->next_num++;
	err = -posix_fallocate(s.fd, 0, (off_t)s.size);
	if (!err)
		err = segment_map(&s);
	if (err)
		goto fail;
	(void)madvise(s.map, s.size, MADV_POPULATE_WRITE);
	h = head_of(&s);
	h->gen = 0;
	h->end = h->acked = SPOOL_HEAD_BYTES;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h->magic, SPOOL_MAGIC, sizeof(h->magic));
	err = writer_keep(w, &s);
	if (err)
		goto fail;
	__atomic_fetch_add(&segments_made, 1, __ATOMIC_RELAXED);
	*index = (int)w->n_segs - 1;
	return 0;
fail:
	segment_unmap(&s);
	(void)unlink(path);
	return err;
}

/* Deletes segment i (free) and forgets it. */
static void segment_drop(struct spool_writer *w, size_t i)
{
	char path[PATH_MAX + 64];

	segment_path(w, w->segs[i].num, path, sizeof(path));
	segment_unmap(&w->segs[i]);
	(void)unlink(path);
	w->segs[i] = w->segs[--w->n_segs];
	if (w->cur == (int)w->n_segs)
		w->cur = (int)i;
}

/* Free segments beyond SPOOL_SEGMENTS_KEEP, and free ones made for a big batch, go. */
static void writer_trim(struct spool_writer *w)
{
	unsigned kept = 0;

	for (size_t i = 0; i < w->n_segs; i++) {
		bool big = w->segs[i].size > SPOOL_HEAD_BYTES + SPOOL_SEGMENT_BYTES;

		if ((int)i == w->cur || !segment_free(&w->segs[i]))
			continue;
		if (!big && ++kept <= SPOOL_SEGMENTS_KEEP)
			continue;
		segment_drop(w, i--);
	}
}

/* Moves to a segment with room for need bytes: a free one, else a new one. The markers
 * of free segments were carried to the batch before (markers_carry). */
static int writer_rotate(struct spool_writer *w, size_t need)
{
	int pick = -1, err;

	for (size_t i = 0; i < w->n_segs; i++)
		if ((int)i != w->cur && w->segs[i].size - SPOOL_HEAD_BYTES >= need &&
		    segment_free(&w->segs[i]) &&
		    (pick < 0 || w->segs[i].size < w->segs[pick].size ||
		     (w->segs[i].size == w->segs[pick].size && w->segs[i].num < w->segs[pick].num)))
			pick = (int)i; /* the smallest that will do: big ones go when free */
	if (pick < 0 && (err = segment_make(w, need, &pick)))
		return err;
	segment_reset(&w->segs[pick], w->next_gen);
	w->next_gen += 2;
	w->cur = pick;
	w->end = SPOOL_HEAD_BYTES;
	writer_trim(w);
	return 0;
}

/* Takes over a segment of an earlier run (records of it not yet acknowledged stay for the
 * shipper); a segment left half made or half reset is made free. */
static void writer_adopt(struct spool_writer *w, unsigned num)
{
	struct segment s = { .num = num, .fd = -1 };
	char path[PATH_MAX + 64];
	uint64_t gen = 0, end, acked;
	struct stat st;

	segment_path(w, num, path, sizeof(path));
	s.fd = open(path, O_RDWR | O_CLOEXEC);
	if (s.fd < 0 || fstat(s.fd, &st))
		goto drop;
	if ((size_t)st.st_size < SPOOL_HEAD_BYTES + 4096) {
		(void)unlink(path); /* made, never sized: it holds nothing */
		goto drop;
	}
	s.size = (size_t)st.st_size;
	if (segment_map(&s))
		goto drop;
	if (!spool_head_read(head_of(&s), &gen, &end, &acked) || end > s.size || acked > end) {
		struct spool_head *h = head_of(&s);

		if (!memcmp(h->magic, SPOOL_MAGIC, sizeof(h->magic)) && !(h->gen & 1))
			pr_err("spool: %s has a head out of bounds; its records are lost", path);
		gen = (h->gen | 1) + 1;
		h->gen = gen;
		h->end = h->acked = SPOOL_HEAD_BYTES;
		memcpy(h->magic, SPOOL_MAGIC, sizeof(h->magic));
	}
	if (writer_keep(w, &s))
		goto drop;
	if (gen >= w->next_gen)
		w->next_gen = gen + 2;
	return;
drop:
	segment_unmap(&s);
}

static struct marker **marker_slot(struct spool_writer *w, const char *id)
{
	struct marker **m = &w->markers[str_hash(id) % MARKER_BUCKETS];

	while (*m && strcmp((*m)->id, id))
		m = &(*m)->next;
	return m;
}

static int marker_keep(struct spool_writer *w, const char *id, const char *line, size_t len)
{
	struct marker **slot = marker_slot(w, id), *m = malloc(sizeof(*m) + len);

	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->num = UNPLACED;
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->len = len;
	memcpy(m->line, line, len);
	if (*slot) { /* accepted twice: the newer fallback stands */
		m->next = (*slot)->next;
		w->unplaced -= (*slot)->num == UNPLACED;
		w->n_markers--;
		free(*slot);
	}
	*slot = m;
	w->n_markers++;
	w->unplaced++;
	return 0;
}

void spool_settle(struct spool_writer *w, const char *activation_id)
{
	struct marker **slot, *m;

	if (!w->n_markers)
		return;
	slot = marker_slot(w, activation_id);
	if (!(m = *slot))
		return;
	*slot = m->next;
	w->unplaced -= m->num == UNPLACED;
	w->n_markers--;
	free(m);
}

/* After a flush: the batch's markers are in segment num. */
static void markers_place(struct spool_writer *w, unsigned num)
{
	for (size_t b = 0; w->unplaced && b < MARKER_BUCKETS; b++)
		for (struct marker *m = w->markers[b]; m; m = m->next)
			if (m->num == UNPLACED) {
				m->num = num;
				w->unplaced--;
			}
}

static bool num_free(const struct spool_writer *w, unsigned num)
{
	for (size_t i = 0; i < w->n_segs; i++)
		if (w->segs[i].num == num)
			return segment_free(&w->segs[i]);
	return true;
}

/* Before a rotation reuses or deletes free segments: the markers still waiting for their
 * record in one of them go into the batch again, to the next segment. */
static int markers_carry(struct spool_writer *w)
{
	for (size_t b = 0; w->n_markers > w->unplaced && b < MARKER_BUCKETS; b++)
		for (struct marker *m = w->markers[b]; m; m = m->next) {
			if (m->num == UNPLACED || !num_free(w, m->num))
				continue;
			if (buf_append(&w->batch, m->line, m->len))
				return -ENOMEM;
			m->num = UNPLACED;
			w->unplaced++;
		}
	return 0;
}

static void markers_free(struct spool_writer *w)
{
	for (size_t b = 0; b < MARKER_BUCKETS; b++)
		for (struct marker *m = w->markers[b], *next; m; m = next) {
			next = m->next;
			free(m);
		}
}

int spool_writer_open(const char *dir, unsigned worker, struct spool_writer **out)
{
	struct spool_writer *w = calloc(1, sizeof(*w));
	struct spool_file *files = NULL;
	size_t n = 0;
	int err;

	if (!w)
		return -ENOMEM;
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	w->worker = worker;
	w->cur = -1;
	w->next_gen = 2;
	w->next_num = 1;
	err = mkdir_p(dir, 0700);
	if (!err)
		err = spool_list_files(dir, &files, &n);
	if (err)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (files[i].worker != worker)
			continue;
		writer_adopt(w, files[i].num);
		if (files[i].num >= w->next_num)
			w->next_num = files[i].num + 1;
	}
	free(files);
	/* A segment of its own per start: what the last run wrote is done. */
	err = writer_rotate(w, 0);
	if (err)
		goto fail;
	*out = w;
	return 0;
fail:
	pr_err("spool: cannot open a spool in %s: %s", dir, strerror(-err));
	spool_writer_close(w);
	return err;
}

void spool_writer_close(struct spool_writer *w)
{
	if (!w)
		return;
	if (w->cur >= 0)
		(void)spool_flush(w);
	for (size_t i = 0; i < w->n_segs; i++)
		segment_unmap(&w->segs[i]);
	free(w->segs);
	markers_free(w);
	buf_free(&w->batch);
	free(w);
}

static int spool_dump_to_buf(const char *p, size_t n, void *data)
{
	return buf_append(data, p, n) ? -1 : 0;
}

int spool_accept(struct spool_writer *w, const char *activation_id, const char *fallback,
		 size_t len)
{
	size_t before = w->batch.len;
	struct json_writer jw;

	jw_init(&jw, &w->batch);
	jw_obj_open(&jw);
	jw_key(&jw, "accepted");
	jw_str(&jw, activation_id);
	jw_key(&jw, "fallback");
	jw_raw(&jw, fallback, len);
	jw_obj_close(&jw);
	if (jw.err || buf_append(&w->batch, "\n", 1) ||
	    marker_keep(w, activation_id, w->batch.data + before, w->batch.len - before)) {
		w->batch.len = before;
		return -ENOMEM;
	}
	return 0;
}

int spool_add_text(struct spool_writer *w, const char *record, size_t len)
{
	size_t before = w->batch.len;

	if (buf_append(&w->batch, record, len) || buf_append(&w->batch, "\n", 1)) {
		w->batch.len = before;
		return -ENOMEM;
	}
	return 0;
}

int spool_add(struct spool_writer *w, const json_t *record)
{
	size_t before = w->batch.len;

	/* Straight into the batch; a record that does not fit leaves nothing of itself. */
	if (json_dump_callback(record, spool_dump_to_buf, &w->batch, JSON_COMPACT) ||
	    buf_append(&w->batch, "\n", 1)) {
		w->batch.len = before;
		return -ENOMEM;
	}
	return 0;
}

int spool_flush(struct spool_writer *w)
{
	struct segment *s;
	int err;

	if (!w->batch.len)
		return 0;
	if (w->end + w->batch.len > w->segs[w->cur].size) {
		err = markers_carry(w) ?: writer_rotate(w, w->batch.len);
		if (err)
			return err;
	}
	s = &w->segs[w->cur];
	memcpy(s->map + w->end, w->batch.data, w->batch.len);
	w->end += w->batch.len;
	/* The shipper reads up to here: the bytes before it are whole records. */
	__atomic_store_n(&head_of(s)->end, w->end, __ATOMIC_RELEASE);
	markers_place(w, s->num);
	/* A turn with a huge record (10 MB of logs) does not keep its memory for good. */
	if (w->batch.cap > SPOOL_BATCH_KEEP)
		buf_free(&w->batch);
	else
		buf_reset(&w->batch);
	return 0;
}

int spool_append(struct spool_writer *w, const json_t *record)
{
	return spool_add(w, record) ?: spool_flush(w);
}

static int by_worker_then(unsigned wa, unsigned wb, uint64_t a, uint64_t b)
{
	if (wa != wb)
		return wa < wb ? -1 : 1;
	return a < b ? -1 : a > b;
}

static int by_worker_and_num(const void *a, const void *b)
{
	const struct spool_file *x = a, *y = b;

	return by_worker_then(x->worker, y->worker, x->num, y->num);
}

/* The files of dir named w<worker>-<num><suffix>, in (worker, num) order. */
static int list_named(const char *dir, const char *suffix, struct spool_file **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct spool_file *files = NULL;
	size_t cnt = 0, cap = 0, sl = strlen(suffix);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct spool_file f;
		int used = 0;

		if (len <= sl || len >= sizeof(f.name) || strcmp(de->d_name + len - sl, suffix) ||
		    sscanf(de->d_name, "w%u-%u%n", &f.worker, &f.num, &used) != 2 ||
		    (size_t)used != len - sl)
			continue;
		snprintf(f.name, sizeof(f.name), "%s", de->d_name);
		if (cnt == cap) {
			struct spool_file *nf = realloc(files, (cap ? cap * 2 : 16) * sizeof(*nf));

			if (!nf)
				break;
			files = nf;
			cap = cap ? cap * 2 : 16;
		}
		files[cnt++] = f;
	}
	closedir(d);
	if (cnt)
		qsort(files, cnt, sizeof(*files), by_worker_and_num);
	*out = files;
	*n = cnt;
	return 0;
}

int spool_list_files(const char *dir, struct spool_file **out, size_t *n)
{
	return list_named(dir, ".spool", out, n);
}

/* A segment mapped whole, read-only, to read its lines. */
struct segment_view {
	char *map;
	size_t size;
	unsigned worker;
	uint64_t gen, end;
};

static int by_worker_and_gen(const void *a, const void *b)
{
	const struct segment_view *x = a, *y = b;

	return by_worker_then(x->worker, y->worker, x->gen, y->gen);
}

/* False for a file that is no readable segment (being made, a head out of bounds). */
static bool segment_view_open(const char *path, struct segment_view *v)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t acked;
	struct stat st;

	if (fd < 0)
		return false;
	if (fstat(fd, &st) || (size_t)st.st_size < SPOOL_HEAD_BYTES) {
		close(fd);
		return false;
	}
	v->size = (size_t)st.st_size;
	v->map = mmap(NULL, v->size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (v->map == MAP_FAILED)
		return false;
	if (spool_head_read((const struct spool_head *)v->map, &v->gen, &v->end, &acked) &&
	    v->end <= v->size)
		return true;
	munmap(v->map, v->size);
	return false;
}

int spool_each_line(const char *dir, int (*line)(const char *p, size_t len, void *data),
		    void *data)
{
	struct spool_file *files = NULL;
	struct segment_view *views;
	size_t n = 0, k = 0;
	int err = spool_list_files(dir, &files, &n);

	if (err)
		return err;
	views = calloc(n ? n : 1, sizeof(*views));
	if (!views) {
		free(files);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		views[k].worker = files[i].worker;
		k += segment_view_open(path, &views[k]);
	}
	/* Oldest first: a worker's segments by generation (numbers say only when made). */
	if (k)
		qsort(views, k, sizeof(*views), by_worker_and_gen);
	for (size_t i = 0; i < k; i++) {
		const char *p = views[i].map + SPOOL_HEAD_BYTES, *stop = views[i].map + views[i].end;

		for (const char *nl; !err && p < stop && (nl = memchr(p, '\n', (size_t)(stop - p)));
		     p = nl + 1)
			err = line(p, (size_t)(nl - p), data);
		munmap(views[i].map, views[i].size);
	}
	free(views);
	free(files);
	return err;
}

/* ---- recovery ---- */

struct pending {
	char id[33];
	json_t *fallback;
	struct pending *next;
};

#define PENDING_BUCKETS 4096

static uint32_t id_hash(const char *id)
{
	return str_hash(id) % PENDING_BUCKETS;
}

/* One line of the spool: markers become pending, records settle them. */
static int recover_line(const char *p, size_t len, void *data)
{
	struct pending **table = data;
	json_t *j = json_parse(p, len, NULL, 0);
	const char *id = json_obj_str(j, "accepted");

	if (id && strlen(id) == 32) {
		struct pending *pe = NULL;

		/* A marker written again (carried from a segment being reused) counts once. */
		for (pe = table[id_hash(id)]; pe && strcmp(pe->id, id); pe = pe->next)
			;
		pe = pe ? NULL : calloc(1, sizeof(*pe));
		if (pe) {
			memcpy(pe->id, id, 33);
			pe->fallback = json_incref(json_object_get(j, "fallback"));
			pe->next = table[id_hash(id)];
			table[id_hash(id)] = pe;
		}
	} else if ((id = json_obj_str(j, "activationId"))) {
		for (struct pending *pe = table[id_hash(id)]; pe; pe = pe->next)
			if (!strcmp(pe->id, id)) {
				json_decref(pe->fallback);
				pe->fallback = NULL; /* settled */
			}
	}
	json_decref(j);
	return 0;
}

static uint64_t legacy_acked(const char *path)
{
	char acked[PATH_MAX + 80], *text;
	uint64_t v = 0;

	snprintf(acked, sizeof(acked), "%s.acked", path);
	text = file_read_all(acked, NULL);
	if (text)
		(void)parse_u64(strtok(text, "\n") ?: "0", &v);
	free(text);
	return v;
}

/*
 * A file of an earlier version, <dir>/w<worker>-<seq>.ndjson: its whole lines past its
 * acknowledged offset go to a segment of the same worker, and its markers before it too
 * (the shipper skipped them, but a restart may still need them); then it goes. A stop in
 * between ships some records twice, which the controller takes once.
 */
static int migrate_legacy(const char *dir, const struct spool_file *f)
{
	char path[PATH_MAX + 64], acked_path[PATH_MAX + 80];
	struct spool_writer *w = NULL;
	uint64_t acked, off = 0;
	FILE *in;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int err;

	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	acked = legacy_acked(path);
	in = fopen(path, "r");
	if (!in)
		return -errno;
	err = spool_writer_open(dir, f->worker, &w);
	while (!err && (n = getline(&line, &cap, in)) > 0) {
		bool before = off < acked;

		off += (uint64_t)n;
		if (line[n - 1] != '\n')
			break; /* a torn last line: never acknowledged to anyone */
		if (before && !spool_line_is_marker(line, (size_t)n - 1))
			continue;
		err = spool_add_text(w, line, (size_t)n - 1);
		if (!err && w->batch.len >= SPOOL_SEGMENT_BYTES / 2)
			err = spool_flush(w);
	}
	if (w && !err)
		err = spool_flush(w);
	spool_writer_close(w);
	free(line);
	fclose(in);
	if (err)
		return err;
	snprintf(acked_path, sizeof(acked_path), "%s.acked", path);
	(void)unlink(path);
	(void)unlink(acked_path);
	return 0;
}

int spool_recover(const char *dir, unsigned recovery_writer)
{
	struct pending **table = calloc(PENDING_BUCKETS, sizeof(*table));
	struct spool_file *legacy = NULL;
	struct spool_writer *w = NULL;
	size_t n = 0;
	int recovered = 0, err = 0;

	if (!table)
		return -ENOMEM;
	if (list_named(dir, ".ndjson", &legacy, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if ((err = migrate_legacy(dir, &legacy[i])))
				pr_err("spool: %s of an earlier version stays as it is: %s",
				       legacy[i].name, strerror(-err));
	free(legacy);
	err = 0;
	(void)spool_each_line(dir, recover_line, table);
	for (size_t b = 0; b < PENDING_BUCKETS; b++) {
		for (struct pending *p = table[b], *next; p; p = next) {
			next = p->next;
			if (p->fallback && !err) {
				if (!w)
					err = spool_writer_open(dir, recovery_writer, &w);
				if (!err && !spool_append(w, p->fallback))
					recovered++;
			}
			json_decref(p->fallback);
			free(p);
		}
	}
	spool_writer_close(w);
	free(table);
	if (recovered)
		pr_warn("spool: %d activations were cut off by the last stop; recorded as "
			"interrupted",
			recovered);
	return err;
}
