/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Activation records never lost: a worker appends each record to its spool file before
 * the response leaves; the shipper (manager thread, shipper.h) sends them to the controller in
 * batches and remembers, per file, how far the controller has acknowledged. A killed node
 * resumes from there on restart; the controller ignores records it already has.
 *
 * Files: <dir>/w<worker>-<seq>.ndjson, one JSON record per line, and beside each the
 * acknowledged offset in <file>.acked. A worker starts a new seq when its file grows past
 * SPOOL_ROTATE_BYTES or when the node starts; files below a worker's newest seq are
 * closed, and deleted once fully acknowledged.
 */
#ifndef XWHISK_SPOOL_H
#define XWHISK_SPOOL_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define SPOOL_ROTATE_BYTES (16u << 20)

struct spool_writer;

/* A marker line starts so; the shipper skips markers. */
#define MARKER_PREFIX "{\"accepted\":"

/* The line of len bytes at p (no NUL after it needed: a spool read is not terminated) is
 * an acceptance marker. */
static inline bool spool_line_is_marker(const char *p, size_t len)
{
	return len >= sizeof(MARKER_PREFIX) - 1 &&
	       !memcmp(p, MARKER_PREFIX, sizeof(MARKER_PREFIX) - 1);
}

/* A spool file as listed, oldest first. */
struct spool_file {
	unsigned worker, seq;
	char name[64];
};

/* The spool files in dir, sorted (an array the caller frees). */
int spool_list_files(const char *dir, struct spool_file **out, size_t *n);

int spool_writer_open(const char *dir, unsigned worker, struct spool_writer **out);
void spool_writer_close(struct spool_writer *w);
/* Adds one record (a line) to the writer's batch, written by the next spool_flush: a
 * worker adds its records as activations end and flushes once per loop turn, before any
 * answer of that turn leaves (worker.c), so a record is still in the file before anyone
 * hears of its result. */
int spool_add(struct spool_writer *w, const json_t *record);
/* The same with a record written as text already: len bytes of compact JSON, one line. */
int spool_add_text(struct spool_writer *w, const char *record, size_t len);
/* Writes the batch (one write); 0 once the bytes are in the file. On an error the batch
 * stays for the next flush. */
int spool_flush(struct spool_writer *w);
/* spool_add and spool_flush: the record is in the file when it returns 0. */
int spool_append(struct spool_writer *w, const json_t *record);
/* Before an early answer (a 202 with only the activation id): a marker with the record to
 * keep if the node stops before the activation ends (len bytes of compact JSON), added as
 * spool_add does. The shipper
 * skips markers. */
int spool_accept(struct spool_writer *w, const char *activation_id, const char *fallback,
		 size_t len);
/* At start, before any writer opens: every marker the previous run left without its
 * record gets its fallback record, written to a file of recovery_writer. */
int spool_recover(const char *dir, unsigned recovery_writer);

#endif
