/* SPDX-License-Identifier: Apache-2.0 */
/* Namespace limits (OpenWhisk UserLimits) and action limits (timeout, memory, logs...). */
#ifndef XWHISK_ENTITY_LIMITS_H
#define XWHISK_ENTITY_LIMITS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define EXEC_SIZE_MAX (48ull << 20)
#define PARAMETERS_SIZE_MAX (1ull << 20)
#define PAYLOAD_MAX (1ull << 20)
#define SEQUENCE_MAX_LENGTH 50
#define LIST_LIMIT_DEFAULT 30
#define LIST_LIMIT_MAX 200

struct ns_limits {
	int64_t invocations_per_minute;
	int64_t concurrent_invocations;
	int64_t fires_per_minute;
	int64_t min_action_memory, max_action_memory;         /* MB */
	int64_t min_action_logs, max_action_logs;             /* MB */
	int64_t min_action_timeout, max_action_timeout;       /* ms */
	int64_t min_action_concurrency, max_action_concurrency;
};

/* System defaults overlaid with a namespace's overrides (clamped to system bounds). */
void limits_effective(const json_t *overrides, struct ns_limits *out);
/* The GET /limits document. */
json_t *limits_to_json(const struct ns_limits *l);
/* key is a limit a namespace may override (xwhisk-admin limits set --KEY). */
bool limits_key_known(const char *key);
/* The system-wide figures for GET / ("limits", in ms and bytes). */
json_t *limits_system_info(void);

/* Validates the limits of an action PUT and merges them over old (or the defaults).
 * Returns the new limits object, or NULL with an OpenWhisk message in err. */
json_t *action_limits_merge(const json_t *given, const json_t *old, const struct ns_limits *ns,
			    char *err, size_t errlen);

#endif
