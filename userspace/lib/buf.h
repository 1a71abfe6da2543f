/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer with a read offset, for sockets and string building. */
#ifndef XWHISK_BUF_H
#define XWHISK_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len; /* bytes written */
	size_t off; /* bytes already consumed from the front */
	size_t cap;
};

#define BUF_INIT ((struct buf){ 0 })

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops n bytes from the front; compacts lazily. */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* Hands the NUL-terminated contents to the caller and empties the buffer. */
char *buf_steal(struct buf *b);

static inline const char *buf_head(const struct buf *b)
{
	return b->data + b->off;
}

static inline size_t buf_pending(const struct buf *b)
{
	return b->len - b->off;
}

#endif
