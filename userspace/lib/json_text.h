/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading JSON text in place, without building its tree: the text is one json_text_valid
 * (or json_parse) accepted, so finding a member's value is finding boundaries only:
 * strings with their escapes, and nesting. For records and answers kept as they came.
 */
#ifndef XWHISK_JSON_TEXT_H
#define XWHISK_JSON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A piece of a text: one member's value, or one array element. */
struct json_span {
	const char *p;
	size_t len;
};

/* Past the spaces at p. */
const char *json_text_ws(const char *p, const char *end);
/* To the ',' or '}' that ends the member value starting at p (or the ']' that ends an
 * array's last element). */
const char *json_text_skip_value(const char *p, const char *end);
/* Where the value that starts at value and ends before p stops, trailing spaces off. */
const char *json_text_value_end(const char *value, const char *p);
/* The value of each of the n keys among the members of the object at p, the last one
 * where a key is repeated (as json_parse keeps it); a key absent has a NULL span. False
 * when the text is no object or a key holds an escape: it might spell one of them. */
bool json_text_members(const char *p, const char *end, const char *const *keys, int n,
		       struct json_span *found);

#endif
