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
#include "json_write.h"
#include "json.h"
#include "log.h"
#include "node/activation/spool.h"
#include "util.h"


/* The batch keeps up to this much memory between turns. */
#define SPOOL_BATCH_KEEP (1u << 20)

struct spool_writer {
	char dir[PATH_MAX];
	unsigned worker;
	unsigned seq;
	int fd;
	uint64_t size;
	struct buf batch; /* added, not yet written (spool_add) */
};

static int next_seq(const char *dir, unsigned worker)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int max = 0;

	if (!d)
		return 1;
	while ((de = readdir(d))) {
		unsigned w, seq;

		if (sscanf(de->d_name, "w%u-%u.ndjson", &w, &seq) == 2 && w == worker &&
		    (int)seq > max)
			max = (int)seq;
	}
	closedir(d);
	return max + 1;
}

static int writer_open_file(struct spool_writer *w)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/w%u-%u.ndjson", w->dir, w->worker, w->seq);
	w->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return -errno;
	w->size = 0;
	return 0;
}

int spool_writer_open(const char *dir, unsigned worker, struct spool_writer **out)
{
	struct spool_writer *w = calloc(1, sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	w->worker = worker;
	err = mkdir_p(dir, 0700);
	if (err)
		goto fail;
	/* A fresh file per start: the previous run's files are closed for good. */
	w->seq = (unsigned)next_seq(dir, worker);
	err = writer_open_file(w);
	if (err)
		goto fail;
	*out = w;
	return 0;
fail:
	pr_err("spool: cannot open a spool file in %s: %s", dir, strerror(-err));
	free(w);
	return err;
}

void spool_writer_close(struct spool_writer *w)
{
	if (!w)
		return;
	(void)spool_flush(w);
	if (w->fd >= 0)
		close(w->fd);
	buf_free(&w->batch);
	free(w);
}

static int spool_dump_to_buf(const char *p, size_t n, void *data)
{
	return buf_append(data, p, n) ? -1 : 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
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
	if (jw.err || buf_append(&w->batch, "\n", 1)) {
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
	int err;

	if (!w->batch.len)
		return 0;
	err = write_all(w->fd, w->batch.data, w->batch.len);
	if (err) {
		/* A batch cut short (a full disk) must not leave half a record as the start of
		 * the next line, which would then be no JSON: back to the last whole batch,
		 * which is kept for the next flush to try again. */
		if (ftruncate(w->fd, (off_t)w->size))
			pr_err("spool: a cut record stays in the spool: %s", strerror(errno));
		return err;
	}
	w->size += w->batch.len;
	/* A turn with a huge record (10 MB of logs) does not keep its memory for good. */
	if (w->batch.cap > SPOOL_BATCH_KEEP)
		buf_free(&w->batch);
	else
		buf_reset(&w->batch);
	if (w->size >= SPOOL_ROTATE_BYTES) {
		close(w->fd);
		w->seq++;
		err = writer_open_file(w);
		if (err)
			pr_err("spool: cannot rotate: %s", strerror(-err));
	}
	return err;
}

int spool_append(struct spool_writer *w, const json_t *record)
{
	return spool_add(w, record) ?: spool_flush(w);
}

/* The spool files in (worker, seq) order. */
int spool_list_files(const char *dir, struct spool_file **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct spool_file *files = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct spool_file f;
		char rest[16];

		if (sscanf(de->d_name, "w%u-%u.ndjso%1s", &f.worker, &f.seq, rest) != 3 ||
		    strcmp(de->d_name + strlen(de->d_name) - 7, ".ndjson"))
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
	for (size_t i = 1; i < cnt; i++)
		for (size_t j = i; j > 0 && (files[j - 1].worker > files[j].worker ||
					     (files[j - 1].worker == files[j].worker &&
					      files[j - 1].seq > files[j].seq));
		     j--) {
			struct spool_file t = files[j];

			files[j] = files[j - 1];
			files[j - 1] = t;
		}
	*out = files;
	*n = cnt;
	return 0;
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

/* Reads one spool file: markers become pending, records settle them. */
static void recover_file(const char *path, struct pending **table)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *j;
		const char *id;

		if (line[n - 1] != '\n')
			break; /* a torn last line: never acknowledged to anyone */
		j = json_parse(line, (size_t)n, NULL, 0);
		id = json_obj_str(j, "accepted");
		if (id && strlen(id) == 32) {
			struct pending *p = calloc(1, sizeof(*p));

			if (p) {
				memcpy(p->id, id, 33);
				p->fallback = json_incref(json_object_get(j, "fallback"));
				p->next = table[id_hash(id)];
				table[id_hash(id)] = p;
			}
		} else if ((id = json_obj_str(j, "activationId"))) {
			for (struct pending *p = table[id_hash(id)]; p; p = p->next)
				if (!strcmp(p->id, id)) {
					json_decref(p->fallback);
					p->fallback = NULL; /* settled */
				}
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
}

int spool_recover(const char *dir, unsigned recovery_writer)
{
	struct pending **table = calloc(PENDING_BUCKETS, sizeof(*table));
	struct spool_file *files = NULL;
	struct spool_writer *w = NULL;
	size_t n = 0;
	int recovered = 0, err = 0;

	if (!table)
		return -ENOMEM;
	if (spool_list_files(dir, &files, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			char path[PATH_MAX + 64];

			snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
			recover_file(path, table);
		}
	}
	for (size_t b = 0; b < PENDING_BUCKETS; b++) {
		for (struct pending *p = table[b], *next; p; p = next) {
			next = p->next;
			if (p->fallback) {
				if (!w && (err = spool_writer_open(dir, recovery_writer, &w)))
					break;
				if (!spool_append(w, p->fallback))
					recovered++;
			}
			json_decref(p->fallback);
			free(p);
		}
	}
	spool_writer_close(w);
	free(files);
	free(table);
	if (recovered)
		pr_warn("spool: %d activations were cut off by the last stop; recorded as "
			"interrupted",
			recovered);
	return err;
}
