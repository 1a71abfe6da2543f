/* SPDX-License-Identifier: Apache-2.0 */
/* Thin helpers over jansson; key order is preserved as inserted. */
#ifndef XWHISK_JSON_H
#define XWHISK_JSON_H

#include <jansson.h>
#include <stdbool.h>

#define JSON_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

/* Parses any JSON value (not only objects); on error fills err with jansson's text. A raw
 * NUL byte anywhere is an error (\u0000 in a string is fine). */
json_t *json_parse(const char *s, size_t len, char *err, size_t errlen);
char *json_dump(const json_t *j);
/* Whether json_parse would accept the text, found without building its tree: for text
 * kept as it came whose parts are read in place (activation records). */
bool json_text_valid(const char *s, size_t len);
/* Whether j's text reaches min bytes, counting its strings and keys only: a walk, much
 * cheaper than a dump (or a parse) of a large document. */
bool json_text_at_least(const json_t *j, size_t min);
/*
 * JSON lines (NDJSON): the next line of [*p, end) that is not blank, cut in place (its
 * newline becomes a NUL; at end, end[0] must be writable: a NUL a buf keeps there), its
 * length in *len; *p moves past it. NULL when no line is left. json_lines_count says how
 * many there are, without cutting.
 */
char *json_lines_next(char **p, char *end, size_t *len);
size_t json_lines_count(const char *p, const char *end);
/* A JSON string of len bytes that need not be UTF-8: each byte that starts no valid
 * sequence becomes U+FFFD, as the JVM decodes (jansson refuses such strings, NULL). NUL
 * bytes stay. NULL only when out of memory. */
json_t *json_string_lossy(const char *s, size_t len);
const char *json_obj_str(const json_t *obj, const char *key);
bool json_obj_bool(const json_t *obj, const char *key, bool def);
/* Copies obj[key] into out when it is a non-empty string that fits (with its NUL). */
bool json_obj_copy_str(const json_t *obj, const char *key, char *out, size_t size);
/* Finds {"key": k, "value": v} in an OpenWhisk key/value array; NULL if absent. */
json_t *json_kv_get(const json_t *arr, const char *key);
/* Sets or replaces key in a key/value array (steals value). */
int json_kv_set(json_t *arr, const char *key, json_t *value);
void json_kv_del(json_t *arr, const char *key);
/* A new reference to j, or a new empty object/array when j is NULL: for "o" in json_pack
 * and for stealing setters, where "j ? j : json_object()" with "O" would leak the default. */
json_t *json_ref_or_object(json_t *j);
json_t *json_ref_or_array(json_t *j);
/* True when the value is neither false, null, 0, nor "" (JavaScript truthiness). */
bool json_truthy(const json_t *v);

#endif
