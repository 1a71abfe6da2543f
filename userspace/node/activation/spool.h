/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Activation records never lost: a worker appends each record to its spool before the
 * response leaves; the shipper (manager thread, shipper.h) sends them to the controller in
 * batches and marks in the spool how far the controller has acknowledged. A killed node
 * resumes from there on restart; the controller ignores records it already has.
 *
 * The spool is a ring of segment files per worker, <dir>/w<worker>-<n>.spool, each mapped
 * shared by its worker, its pages populated when it is made: appending a record is a
 * memcpy and a store, no system call (a write() per loop turn was one call in seven of a
 * warm invoke). A segment is a head (struct spool_head) and then records, one JSON line
 * each. The writer publishes the end of its whole records in the head after each flush;
 * the shipper reads lines up to there and stores the acknowledged offset beside it. A
 * segment whose records are all acknowledged is free: its writer reuses it when the
 * current one is full, so in a steady state no page is faulted in again. When none is
 * free (the controller away), the writer makes another; free segments beyond
 * SPOOL_SEGMENTS_KEEP, and free segments made for one big record, are deleted.
 *
 * The kernel holds a shared mapping's bytes as it holds written ones: records survive a
 * kill -9 of the node (not a power cut, as before: nothing is fsynced).
 */
#ifndef XWHISK_SPOOL_H
#define XWHISK_SPOOL_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Room for records in a segment; a batch larger than that gets a segment of its own. */
#define SPOOL_SEGMENT_BYTES (1u << 20)
/* The head takes the first page: records start at this offset. */
#define SPOOL_HEAD_BYTES 4096u
/* Free segments a worker keeps for reuse. */
#define SPOOL_SEGMENTS_KEEP 4
#define SPOOL_MAGIC "xwspool1"

/*
 * A segment's head. Offsets are file offsets (records start at SPOOL_HEAD_BYTES). gen
 * orders a worker's segments and is a sequence lock: odd while the writer resets the
 * segment for reuse, so that a reader retries rather than pairing an old end with a new
 * acked (spool_head_read).
 */
struct spool_head {
	char magic[8];
	uint64_t gen;   /* written by the writer */
	uint64_t end;   /* after the last whole record: written by the writer */
	uint64_t acked; /* acknowledged by the controller: written by the shipper */
};

/* A consistent view of a head: false while a segment is being reset (or is no segment). */
bool spool_head_read(const struct spool_head *h, uint64_t *gen, uint64_t *end,
		     uint64_t *acked);

/* A marker line starts so; the shipper skips markers. */
#define MARKER_PREFIX "{\"accepted\":"

/* The line of len bytes at p (no NUL after it needed: a spool read is not terminated) is
 * an acceptance marker. */
static inline bool spool_line_is_marker(const char *p, size_t len)
{
	return len >= sizeof(MARKER_PREFIX) - 1 &&
	       !memcmp(p, MARKER_PREFIX, sizeof(MARKER_PREFIX) - 1);
}

/* A segment file as listed. */
struct spool_file {
	unsigned worker, num;
	char name[64];
};

/* The segment files in dir, by worker and number (an array the caller frees). */
int spool_list_files(const char *dir, struct spool_file **out, size_t *n);
/* Counts the segment files made by this process: the shipper lists the directory again
 * when it moves. */
uint64_t spool_segments_made(void);

struct spool_writer;

/* Opens worker's spool in dir, taking over the segments a previous run left. */
int spool_writer_open(const char *dir, unsigned worker, struct spool_writer **out);
void spool_writer_close(struct spool_writer *w);
/* Adds one record (a line) to the writer's batch, written by the next spool_flush: a
 * worker adds its records as activations end and flushes once per loop turn, before any
 * answer of that turn leaves (worker.c), so a record is in the spool before anyone hears
 * of its result. */
int spool_add(struct spool_writer *w, const json_t *record);
/* The same with a record written as text already: len bytes of compact JSON, one line. */
int spool_add_text(struct spool_writer *w, const char *record, size_t len);
/* Copies the batch into the current segment and publishes it; 0 once it is in the spool.
 * On an error (no segment could be made: a full disk) the batch stays for the next
 * flush. */
int spool_flush(struct spool_writer *w);
/* spool_add and spool_flush: the record is in the spool when it returns 0. */
int spool_append(struct spool_writer *w, const json_t *record);
/* Before an early answer (a 202 with only the activation id): a marker with the record to
 * keep if the node stops before the activation ends (len bytes of compact JSON), added as
 * spool_add does. The shipper skips markers. Until spool_settle, the writer keeps the
 * marker and writes it again before its segment is reused or deleted. */
int spool_accept(struct spool_writer *w, const char *activation_id, const char *fallback,
		 size_t len);
/* The record of activation_id is added: its marker, if any, is no longer needed. */
void spool_settle(struct spool_writer *w, const char *activation_id);

/* Calls line for every line of every segment in dir (markers too, acknowledged or not),
 * oldest first, each without its newline; stops at a non-zero return. */
int spool_each_line(const char *dir, int (*line)(const char *p, size_t len, void *data),
		    void *data);
/* At start, before any writer opens: the spool files of an earlier version
 * (w<worker>-<seq>.ndjson and their .acked) are moved into segments, then every marker
 * without its record gets its fallback record, written as recovery_writer's. */
int spool_recover(const char *dir, unsigned recovery_writer);

#endif
