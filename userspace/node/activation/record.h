/* SPDX-License-Identifier: Apache-2.0 */
/* Activation records of this node's activations, in OpenWhisk's stored form. */
#ifndef XWHISK_RECORD_H
#define XWHISK_RECORD_H

#include <jansson.h>

#include "node/activation/invocation.h"

/* The record of a finished primitive activation. */
json_t *record_of_invocation(const struct invocation *inv);
/* The annotations every record of action carries: path, kind, limits (and binding). */
json_t *record_base_annotations(const struct action_entry *action);
/* The record an activation gets if its node stops before it ends (see spool_accept). */
json_t *record_interrupted(const struct action_entry *action, const struct identity *who,
			   const char *activation_id, uint64_t start_ms, const char *kind);
/* {"error": message}; message need not be UTF-8 (json_string_lossy). */
json_t *record_error(const char *message);
json_t *record_error_n(const char *message, size_t len);

#endif
