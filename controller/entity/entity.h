/* SPDX-License-Identifier: Apache-2.0 */
/* Fields common to entity documents: parameters, annotations, versions, exec. */
#ifndef XWHISK_ENTITY_H
#define XWHISK_ENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtimes.h"

#define VERSION_DEFAULT "0.0.1"

/* Normalizes a [{key, value[, init]}] array: keys unique (last wins), values default null.
 * Returns a new array, or NULL with a message in err. */
json_t *kv_array_normalize(const json_t *in, bool allow_init, const char *field, char *err,
			   size_t errlen);
/* Merges b over a (keys in b win); new reference. */
json_t *kv_array_merge(const json_t *a, const json_t *b);
/* "x.y.z" with non-negative parts, not 0.0.0. */
bool version_valid(const char *s);
/* The next patch version: "0.0.1" -> "0.0.2" (malloc'd). */
char *version_bump(const char *s);
/* Bytes of the compact JSON form. */
size_t json_size(const json_t *j);

/* Validates and normalizes an exec. ns resolves "_" in sequence components.
 * On failure returns NULL, sets *status (400 or 413) and err. */
json_t *exec_normalize(const struct runtimes *rt, const json_t *in, const char *ns, int *status,
		       char *err, size_t errlen);
/* The exec as GET ?code=false shows it. */
json_t *exec_without_code(const json_t *exec);

#endif
