/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the activation pipeline needs to answer from the response cache (result_cache.h):
 * an invoke's key, the action's `__ow_cache: {ttl}` taken out of its result, and the
 * record of an activation answered from the cache (annotated cached: true, no logs, the
 * lookup's duration). Pure: no worker, no node.
 */
#ifndef XWHISK_CACHED_RESULT_H
#define XWHISK_CACHED_RESULT_H

#include <jansson.h>
#include <stdint.h>

#include "node/activation/action_cache.h"
#include "node/activation/record.h"
#include "node/activation/result_cache.h"
#include "node/ingress/identity.h"

/* The longest an action may ask its result to be kept. */
#define CACHED_TTL_MAX_S (24u * 3600)

/* An invoke's key: the action (its id encodes subject, document and revision) and its
 * merged /run parameters, whatever order their keys came in. */
int cached_result_key(const struct action_entry *action, const json_t *params,
		      uint8_t key[RESULT_KEY_LEN]);
/* Removes "__ow_cache" from an object result; the seconds it asked for (at most
 * CACHED_TTL_MAX_S), 0 when absent or not {"ttl": positive integer}. */
unsigned cached_result_take_ttl(json_t *result);
/* The stored-form record of an activation answered with a result (statusCode status)
 * from the cache, between start_ms and end_ms: result as a tree, or result_json (valid
 * compact JSON, result_len bytes) as the cache keeps it. 0 or -ENOMEM. */
int cached_result_record(const struct action_entry *action, const struct identity *who,
			 const char *activation_id, int status, const json_t *result,
			 const char *result_json, size_t result_len, uint64_t start_ms,
			 uint64_t end_ms, struct record *out);

#endif
