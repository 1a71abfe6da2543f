/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shipper, on the manager thread: sends the workers' spooled activation records to the
 * controller in batches and stores in each segment's head how far the controller has
 * acknowledged; the writers reuse segments acknowledged to their end. See spool.h.
 */
#ifndef XWHISK_SHIPPER_H
#define XWHISK_SHIPPER_H

#include <stdint.h>

#include "buf.h"
#include "loop.h"
#include "mailbox.h"
#include "node/ctlclient.h"
#include "node/crossing.h"

struct shipper;

/* Ships from dir on loop (the manager's); nudges arrive through mb. */
struct shipper *shipper_new(struct loop *loop, struct mailbox *mb, const char *dir,
			    struct ctlclient *cc);
void shipper_free(struct shipper *s);
/* Records shipped and acknowledged since start, and bytes still waiting. */
uint64_t shipper_shipped(struct shipper *s);
uint64_t shipper_backlog(struct shipper *s);
/* Appends the complete record lines of the segment open on fd between offsets off and end
 * to body, each with its newline (acceptance markers left out): JSON lines as the
 * controller takes them; *records is how many. Returns the offset after the last line
 * read (off if none). */
uint64_t shipper_read_batch(int fd, uint64_t off, uint64_t end, struct buf *body,
			    unsigned *records);
/* The old body, {"activations": [...]}, of lines (which it cuts in place) for a controller
 * of an earlier version, leaving out lines that are no JSON object (they would make it
 * refuse the batch); returns the records in it. */
unsigned shipper_legacy_body(struct buf *lines, struct buf *body);

#endif
