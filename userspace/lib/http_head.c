// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

/* Most heads fit: the benchmarks' requests and a sandbox's /run answers are 150-350 bytes.
 * buf_reserve doubles from 256, so this is a 512-byte block; 512 would make it 1024, where
 * malloc leaves its per-thread cache on a miss and consolidates. */
#define TEXT_START 384

void http_head_free(struct http_head *h)
{
	if (h->fields != h->inline_fields)
		free(h->fields);
	buf_free(&h->text);
	*h = (struct http_head){ 0 };
}

int http_head_piece(struct http_head *h, size_t *off, const char *p, size_t len)
{
	struct buf *t = &h->text;

	if (!t->cap && buf_reserve(t, TEXT_START))
		return -ENOMEM;
	/* Room first: a piece that cannot be stored leaves the text and *off as they were. */
	if (buf_reserve(t, len + 1))
		return -ENOMEM;
	if (*off == SIZE_MAX)
		*off = t->len;
	else
		t->len--; /* the string reopens: its NUL goes */
	memcpy(t->data + t->len, p, len);
	t->len += len;
	t->data[t->len++] = '\0';
	t->data[t->len] = '\0'; /* as every buf ends */
	return 0;
}

int http_head_field(struct http_head *h, const char *p, size_t len)
{
	if (h->whole)
		return 0;
	if (!h->cap) { /* the first field */
		h->fields = h->inline_fields;
		h->cap = HTTP_HEAD_INLINE_FIELDS;
	}
	if (h->in_value || !h->n) {
		if (h->n == h->cap) {
			bool was_inline = h->fields == h->inline_fields;
			struct http_header *f =
				realloc(was_inline ? NULL : h->fields, h->cap * 2 * sizeof(*f));

			if (!f)
				return -ENOMEM;
			if (was_inline)
				memcpy(f, h->inline_fields, sizeof(h->inline_fields));
			h->fields = f;
			h->cap *= 2;
		}
		h->fields[h->n++] = (struct http_header){ .name_off = SIZE_MAX, .value_off = SIZE_MAX };
		h->in_value = false;
	}
	return http_head_piece(h, &h->fields[h->n - 1].name_off, p, len);
}

int http_head_value(struct http_head *h, const char *p, size_t len)
{
	if (h->whole || !h->n)
		return 0;
	h->in_value = true;
	return http_head_piece(h, &h->fields[h->n - 1].value_off, p, len);
}

int http_head_finish(struct http_head *h)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->fields[i].value_off == SIZE_MAX &&
		    http_head_piece(h, &h->fields[i].value_off, "", 0))
			return -ENOMEM;
	for (size_t i = 0; i < h->n; i++) {
		h->fields[i].name = h->text.data + h->fields[i].name_off;
		h->fields[i].value = h->text.data + h->fields[i].value_off;
	}
	h->whole = true;
	return 0;
}
