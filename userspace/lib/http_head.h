/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A message head's strings, for the HTTP server (a request's url and fields) and client (a
 * response's fields): one block, each string added as the parser hands over its pieces and
 * NUL-ended, found by offset while the block may still move, pointed at once the head is
 * whole. A head costs one or two allocations instead of two per field.
 */
#ifndef XWHISK_HTTP_HEAD_H
#define XWHISK_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"

/* struct http_head is in http.h, inside the request and the response. */
/* A zeroed head is an empty one; freed, it is empty again. */
void http_head_free(struct http_head *h);
/* A piece of a string that begins at *off (SIZE_MAX: a new string, at the block's end). The
 * string must be the last one begun. */
int http_head_piece(struct http_head *h, size_t *off, const char *p, size_t len);
/* The parser's header field and value callbacks. */
int http_head_field(struct http_head *h, const char *p, size_t len);
int http_head_value(struct http_head *h, const char *p, size_t len);
/* The head is read (or cut short): a field without a value gets "", and every field's name
 * and value point into the block, which moves no more. */
int http_head_finish(struct http_head *h);

#endif
