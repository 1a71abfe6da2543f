// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "logpipe.h"
#include "util.h"

#define READ_CHUNK 65536

static void deliver(struct logpipe *lp, const char *line, size_t len, uint64_t ts)
{
	bool sentinel = len == sizeof(ACTIVATION_SENTINEL) - 1 &&
			!memcmp(line, ACTIVATION_SENTINEL, len);

	if (lp->cb)
		lp->cb(lp->owner, lp->stream, line, len, ts, sentinel);
}

/* Splits data into lines, joining a line begun in an earlier read. */
static void consume(struct logpipe *lp, const char *data, size_t n, uint64_t ts)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t len = nl ? (size_t)(nl - data) : n;
		size_t room = LOGPIPE_MAX_LINE - lp->partial.len;
		bool complete = nl && len <= room;

		/* The newline of a line already delivered at the cap ends it: not a line. */
		if (lp->cut && nl == data) {
			lp->cut = false;
			data++;
			n--;
			continue;
		}
		lp->cut = false;
		if (len > room)
			len = room;
		if (!lp->partial.len && complete) {
			deliver(lp, data, len, ts); /* the common case needs no copy */
		} else {
			(void)buf_append(&lp->partial, data, len);
			if (complete || lp->partial.len >= LOGPIPE_MAX_LINE) {
				deliver(lp, lp->partial.data, lp->partial.len, ts);
				buf_reset(&lp->partial);
				lp->cut = !complete;
			}
		}
		data += len;
		n -= len;
		if (complete) {
			data++;
			n--;
		}
	}
}

/* Returns false at end of file or on a read error. */
static bool read_some(struct logpipe *lp)
{
	char chunk[READ_CHUNK];

	for (;;) {
		ssize_t n = read(lp->fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		consume(lp, chunk, (size_t)n, clock_real_ns());
		if ((size_t)n < sizeof(chunk))
			return true;
	}
}

static void flush_partial(struct logpipe *lp)
{
	if (lp->partial.len) {
		deliver(lp, lp->partial.data, lp->partial.len, clock_real_ns());
		buf_reset(&lp->partial);
	}
}

static void on_readable(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct logpipe *lp = data;

	(void)loop;
	(void)fd;
	(void)events;
	if (!read_some(lp)) {
		flush_partial(lp);
		logpipe_close(lp);
	}
}

int logpipe_open(struct logpipe *lp, struct loop *loop, int fd, int stream, logpipe_cb cb,
		 void *owner)
{
	int err;

	memset(lp, 0, sizeof(*lp));
	lp->loop = loop;
	lp->fd = fd;
	lp->stream = stream;
	lp->cb = cb;
	lp->owner = owner;
	err = loop_add_fd(loop, fd, EPOLLIN, on_readable, lp);
	if (err) {
		lp->fd = -1;
		close(fd);
	}
	return err;
}

void logpipe_drain(struct logpipe *lp)
{
	if (lp->fd < 0)
		return;
	(void)read_some(lp);
	flush_partial(lp);
}

void logpipe_close(struct logpipe *lp)
{
	if (!lp)
		return;
	if (lp->fd >= 0) {
		loop_del_fd(lp->loop, lp->fd);
		close(lp->fd);
		lp->fd = -1;
	}
	buf_free(&lp->partial);
}
