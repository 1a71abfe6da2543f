/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer with a read offset, for sockets and string building. */
#ifndef XWHISK_BUF_H
#define XWHISK_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct buf {
	char *data;
	size_t len; /* bytes written */
	size_t off; /* bytes already consumed from the front */
	size_t cap;
};

#define BUF_INIT ((struct buf){ 0 })

/* buf_read grows a buffer only when less than this is free: with the NUL buf_reserve
 * keeps room for, an empty buffer becomes one 16 KB allocation. (Reserving 64 KB before
 * every read made it 128 KB, which malloc and ASan serve with an mmap and a munmap: one
 * pair per connection and per action loop answer, most of their time under the fuzz
 * targets.) */
#define BUF_READ_MIN ((16u << 10) - 1)

int buf_reserve(struct buf *b, size_t extra);
/* One read(2) of fd into the free room at b's end (grown first if less than BUF_READ_MIN
 * is free); *filled tells that the room was filled, so more may be waiting. Returns what
 * read returned (-1 with errno, ENOMEM too). */
ssize_t buf_read(struct buf *b, int fd, bool *filled);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* v in decimal, without printf's cost (response heads, request lines). */
int buf_put_uint(struct buf *b, unsigned long long v);
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
