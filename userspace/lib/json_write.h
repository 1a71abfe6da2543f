/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compact JSON written straight into a byte buffer, for the documents the node writes per
 * activation (records, answers, /run bodies): no tree, no per-value allocation. The output
 * is byte for byte what jansson's JSON_COMPACT dump of the same tree gives (commas and
 * colons without spaces, the same escapes), so records keep their form.
 *
 *   struct json_writer jw;
 *   jw_init(&jw, &buf);
 *   jw_obj_open(&jw); jw_key(&jw, "n"); jw_int(&jw, 1); jw_obj_close(&jw);
 *   if (jw.err) ...                       the first error (-ENOMEM), sticky
 *
 * Commas are the writer's business: a value or key after another gets one.
 */
#ifndef XWHISK_JSON_WRITE_H
#define XWHISK_JSON_WRITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct json_writer {
	struct buf *b;
	size_t start; /* where the writer's document begins in b: no comma before it */
	int err;
};

/* Appends to whatever b holds already. */
void jw_init(struct json_writer *jw, struct buf *b);
void jw_obj_open(struct json_writer *jw);
void jw_obj_close(struct json_writer *jw);
void jw_arr_open(struct json_writer *jw);
void jw_arr_close(struct json_writer *jw);
void jw_key(struct json_writer *jw, const char *key);
/* Opens {"key":key,"value": (OpenWhisk's annotation and parameter pairs): the caller
 * writes the value, then jw_obj_close(). */
void jw_pair_open(struct json_writer *jw, const char *key);
void jw_str(struct json_writer *jw, const char *s);
/* len bytes that need not be UTF-8: a byte that starts no valid sequence becomes U+FFFD
 * (as json_string_lossy); NUL and control characters are escaped. */
void jw_strn(struct json_writer *jw, const char *s, size_t len);
void jw_int(struct json_writer *jw, long long v);
void jw_bool(struct json_writer *jw, bool v);
/* A value that is valid JSON already, on one line (a cached result, a precomputed part,
 * a /run answer kept as it came: compact, unless the action wrote it otherwise). */
void jw_raw(struct json_writer *jw, const char *json, size_t len);
/* Members or elements that are valid compact JSON already, without their brackets
 * ("a":1,"b":2 or 1,2), inside an open object or array; nothing when len is 0. */
void jw_raw_members(struct json_writer *jw, const char *json, size_t len);
/* A tree, as jansson dumps it (JSON_COMPACT | JSON_ENCODE_ANY). */
void jw_value(struct json_writer *jw, const json_t *v);

/* The length of the valid UTF-8 sequence at s (at most n bytes), 0 when none starts there:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
size_t utf8_sequence(const unsigned char *s, size_t n);

#endif
