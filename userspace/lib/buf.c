// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	/* +1 keeps room for a terminating NUL. */
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	/* Only when something was consumed: an empty buffer has no data to move, and
	 * memmove(NULL, NULL, 0) is undefined (UBSan, every fuzz target). */
	if (b->off && b->off >= b->cap / 2) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		need = b->len + extra + 1;
		if (need <= b->cap)
			return 0;
	}
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > ((size_t)-1) / 2)
			return -ENOMEM;
		cap *= 2;
	}
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

ssize_t buf_read(struct buf *b, int fd, bool *filled)
{
	size_t room;
	ssize_t n;

	*filled = false;
	if (buf_reserve(b, BUF_READ_MIN)) {
		errno = ENOMEM;
		return -1;
	}
	room = b->cap - b->len - 1;
	n = read(fd, b->data + b->len, room);
	if (n > 0) {
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		*filled = (size_t)n == room;
	}
	return n;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	int err = buf_reserve(b, len);

	if (err)
		return err;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	size_t room;
	va_list copy;
	int n, err;

	/* Formatted once into the room there is, the usual case; a second time only when the
	 * buffer had to grow for it. */
	if (b->off && b->off == b->len)
		b->off = b->len = 0;
	room = b->cap > b->len ? b->cap - b->len : 0;
	va_copy(copy, ap);
	n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, copy);
	va_end(copy);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= room) {
		err = buf_reserve(b, (size_t)n);
		if (err) {
			if (b->data && b->len < b->cap)
				b->data[b->len] = '\0';
			return err;
		}
		vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	}
	b->len += (size_t)n;
	return 0;
}

int buf_put_uint(struct buf *b, unsigned long long v)
{
	char digits[21];

	return buf_append(b, digits, u64_dec(digits, v));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off >= b->len)
		b->off = b->len = 0;
}

void buf_reset(struct buf *b)
{
	b->off = b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
	free(b->data);
	*b = BUF_INIT;
}

char *buf_steal(struct buf *b)
{
	char *s;

	if (buf_reserve(b, 0))
		return NULL;
	if (b->off)
		memmove(b->data, b->data + b->off, b->len - b->off);
	b->len -= b->off;
	b->data[b->len] = '\0';
	s = b->data;
	*b = BUF_INIT;
	return s;
}
