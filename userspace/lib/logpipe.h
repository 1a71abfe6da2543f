/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads one of a sandbox's output streams and cuts it into lines, each stamped with
 * the wall-clock time it was read (as Docker's log driver does). The activation
 * sentinel is recognised here so the owner does not have to compare every line.
 * Lines longer than LOGPIPE_MAX_LINE are delivered in pieces.
 */
#ifndef XWHISK_LIB_LOGPIPE_H
#define XWHISK_LIB_LOGPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activation.h" /* ACTIVATION_SENTINEL */
#include "buf.h"
#include "loop.h"

#define LOGPIPE_MAX_LINE 16384

typedef void (*logpipe_cb)(void *owner, int stream, const char *line, size_t len, uint64_t ts_ns,
			   bool sentinel);

struct logpipe {
	struct loop *loop;
	int fd;
	int stream;
	struct buf partial;
	bool cut; /* the last line was delivered at the cap, before its newline was read */
	logpipe_cb cb;
	void *owner;
};

/* Takes fd (non-blocking, the read end) and watches it on the loop. */
int logpipe_open(struct logpipe *lp, struct loop *loop, int fd, int stream, logpipe_cb cb,
		 void *owner);
/* Reads whatever is buffered now and delivers it, an unfinished last line included. */
void logpipe_drain(struct logpipe *lp);
void logpipe_close(struct logpipe *lp);

#endif
