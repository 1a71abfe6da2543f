/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Activation records never lost: a worker appends each record to its spool file before
 * the response leaves; the shipper (manager thread) sends them to the controller in
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

#include "node/ctlclient.h"
#include "loop.h"
#include "mailbox.h"

#define SPOOL_ROTATE_BYTES (16u << 20)

struct spool_writer;
struct shipper;

int spool_writer_open(const char *dir, unsigned worker, struct spool_writer **out);
void spool_writer_close(struct spool_writer *w);
/* Appends one record (a line); 0 once the bytes are in the file. */
int spool_append(struct spool_writer *w, const json_t *record);
/* Before an early answer (a 202 with only the activation id): a marker with the record to
 * keep if the node stops before the activation ends. The shipper skips markers. */
int spool_accept(struct spool_writer *w, const char *activation_id, const json_t *fallback);
/* At start, before any writer opens: every marker the previous run left without its
 * record gets its fallback record, written to a file of recovery_writer. */
int spool_recover(const char *dir, unsigned recovery_writer);

/* Ships from dir on loop (the manager's); nudges arrive through mb. */
struct shipper *shipper_new(struct loop *loop, struct mailbox *mb, const char *dir,
			    struct ctlclient *cc);
void shipper_free(struct shipper *s);
/* Thread-safe: there is something new to ship. */
void shipper_nudge(struct shipper *s);
/* Records shipped and acknowledged since start, and bytes still waiting. */
uint64_t shipper_shipped(struct shipper *s);
uint64_t shipper_backlog(struct shipper *s);

#endif
