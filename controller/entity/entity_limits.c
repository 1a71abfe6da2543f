// SPDX-License-Identifier: Apache-2.0
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "entity_limits.h"

/* OpenWhisk's standard deployment, except action concurrency: xwhisk sandboxes take
 * concurrent activations, so the ceiling is ansible's local value of 500. */
static const struct ns_limits system_defaults = {
	.invocations_per_minute = 60,
	.concurrent_invocations = 30,
	.fires_per_minute = 60,
	.min_action_memory = 128,
	.max_action_memory = 512,
	.min_action_logs = 0,
	.max_action_logs = 10,
	.min_action_timeout = 100,
	.max_action_timeout = 300000,
	.min_action_concurrency = 1,
	.max_action_concurrency = 500,
};

#define DEFAULT_TIMEOUT 60000
#define DEFAULT_MEMORY 256
#define DEFAULT_LOGS 10
#define DEFAULT_CONCURRENCY 1

/* The limits a namespace may override: their names (as xwhisk-admin and GET /limits
 * spell them) and where they live. */
static const struct {
	const char *key;
	size_t offset;
} overridable[] = {
	{ "invocationsPerMinute", offsetof(struct ns_limits, invocations_per_minute) },
	{ "concurrentInvocations", offsetof(struct ns_limits, concurrent_invocations) },
	{ "firesPerMinute", offsetof(struct ns_limits, fires_per_minute) },
	{ "minActionMemory", offsetof(struct ns_limits, min_action_memory) },
	{ "maxActionMemory", offsetof(struct ns_limits, max_action_memory) },
	{ "minActionLogs", offsetof(struct ns_limits, min_action_logs) },
	{ "maxActionLogs", offsetof(struct ns_limits, max_action_logs) },
	{ "minActionTimeout", offsetof(struct ns_limits, min_action_timeout) },
	{ "maxActionTimeout", offsetof(struct ns_limits, max_action_timeout) },
	{ "minActionConcurrency", offsetof(struct ns_limits, min_action_concurrency) },
	{ "maxActionConcurrency", offsetof(struct ns_limits, max_action_concurrency) },
};

static int64_t *limit_field(struct ns_limits *l, const char *key)
{
	for (size_t i = 0; i < sizeof(overridable) / sizeof(overridable[0]); i++)
		if (!strcmp(key, overridable[i].key))
			return (int64_t *)((char *)l + overridable[i].offset);
	return NULL;
}

bool limits_key_known(const char *key)
{
	struct ns_limits l;

	/* Not a limit the nodes enforce: the controller's activation retention reads it. */
	if (!strcmp(key, "activationRetentionSeconds"))
		return true;
	return limit_field(&l, key) != NULL;
}

void limits_effective(const json_t *overrides, struct ns_limits *out)
{
	const char *key;
	json_t *v;

	*out = system_defaults;
	json_object_foreach((json_t *)overrides, key, v) {
		int64_t *f = limit_field(out, key);

		if (f && json_is_integer(v) && json_integer_value(v) >= 0)
			*f = json_integer_value(v);
	}
	/* Per-namespace action bounds never leave the system's. */
	if (out->min_action_memory < system_defaults.min_action_memory)
		out->min_action_memory = system_defaults.min_action_memory;
	if (out->max_action_memory > system_defaults.max_action_memory)
		out->max_action_memory = system_defaults.max_action_memory;
	if (out->max_action_logs > system_defaults.max_action_logs)
		out->max_action_logs = system_defaults.max_action_logs;
	if (out->min_action_timeout < system_defaults.min_action_timeout)
		out->min_action_timeout = system_defaults.min_action_timeout;
	if (out->max_action_timeout > system_defaults.max_action_timeout)
		out->max_action_timeout = system_defaults.max_action_timeout;
	if (out->min_action_concurrency < 1)
		out->min_action_concurrency = 1;
	if (out->max_action_concurrency > system_defaults.max_action_concurrency)
		out->max_action_concurrency = system_defaults.max_action_concurrency;
}

json_t *limits_to_json(const struct ns_limits *l)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:s,s:I}",
			 "invocationsPerMinute", (json_int_t)l->invocations_per_minute,
			 "concurrentInvocations", (json_int_t)l->concurrent_invocations,
			 "firesPerMinute", (json_int_t)l->fires_per_minute, "minActionMemory",
			 (json_int_t)l->min_action_memory, "maxActionMemory",
			 (json_int_t)l->max_action_memory, "minActionLogs",
			 (json_int_t)l->min_action_logs, "maxActionLogs",
			 (json_int_t)l->max_action_logs, "minActionTimeout",
			 (json_int_t)l->min_action_timeout, "maxActionTimeout",
			 (json_int_t)l->max_action_timeout, "minActionConcurrency",
			 (json_int_t)l->min_action_concurrency, "maxActionConcurrency",
			 (json_int_t)l->max_action_concurrency, "maxParameterSize", "1 MB",
			 "maxActionInstances", (json_int_t)l->concurrent_invocations);
}

json_t *limits_system_info(void)
{
	const struct ns_limits *d = &system_defaults;

	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			 "actions_per_minute", (json_int_t)d->invocations_per_minute,
			 "triggers_per_minute", (json_int_t)d->fires_per_minute,
			 "concurrent_actions", (json_int_t)d->concurrent_invocations,
			 "sequence_length", (json_int_t)SEQUENCE_MAX_LENGTH,
			 "default_min_action_duration", (json_int_t)d->min_action_timeout,
			 "default_max_action_duration", (json_int_t)d->max_action_timeout,
			 "default_min_action_memory", (json_int_t)(d->min_action_memory << 20),
			 "default_max_action_memory", (json_int_t)(d->max_action_memory << 20),
			 "default_min_action_logs", (json_int_t)(d->min_action_logs << 20),
			 "default_max_action_logs", (json_int_t)(d->max_action_logs << 20),
			 "min_action_duration", (json_int_t)d->min_action_timeout,
			 "max_action_duration", (json_int_t)d->max_action_timeout,
			 "min_action_memory", (json_int_t)(d->min_action_memory << 20),
			 "max_action_memory", (json_int_t)(d->max_action_memory << 20),
			 "min_action_logs", (json_int_t)(d->min_action_logs << 20),
			 "max_action_logs", (json_int_t)(d->max_action_logs << 20));
}

struct limit_rule {
	const char *key;
	const char *label; /* as OpenWhisk words its messages */
	const char *unit;
	int64_t def;
	size_t min_off, max_off;
};

#define NSL(f) offsetof(struct ns_limits, f)

static const struct limit_rule action_rules[] = {
	{ "timeout", "duration", " milliseconds", DEFAULT_TIMEOUT, NSL(min_action_timeout),
	  NSL(max_action_timeout) },
	{ "memory", "memory", " MB", DEFAULT_MEMORY, NSL(min_action_memory), NSL(max_action_memory) },
	{ "logs", "log", " MB", DEFAULT_LOGS, NSL(min_action_logs), NSL(max_action_logs) },
	{ "concurrency", "concurrency", "", DEFAULT_CONCURRENCY, NSL(min_action_concurrency),
	  NSL(max_action_concurrency) },
};

json_t *action_limits_merge(const json_t *given, const json_t *old, const struct ns_limits *ns,
			    char *err, size_t errlen)
{
	json_t *out = json_object(), *v;

	if (!out)
		return NULL;
	if (given && !json_is_object(given) && !json_is_null(given)) {
		snprintf(err, errlen, "The request content was malformed:\nlimits must be an object");
		goto fail;
	}
	for (size_t i = 0; i < sizeof(action_rules) / sizeof(action_rules[0]); i++) {
		const struct limit_rule *r = &action_rules[i];
		int64_t min = *(const int64_t *)((const char *)ns + r->min_off);
		int64_t max = *(const int64_t *)((const char *)ns + r->max_off);
		int64_t value;

		v = json_object_get(given, r->key);
		if (!v || json_is_null(v)) {
			json_t *prev = json_object_get(old, r->key);

			value = json_is_integer(prev) ? json_integer_value(prev) : r->def;
			json_object_set_new(out, r->key, json_integer(value));
			continue;
		}
		if (!json_is_integer(v)) {
			snprintf(err, errlen,
				 "The request content was malformed:\nlimits.%s must be a whole number",
				 r->key);
			goto fail;
		}
		value = json_integer_value(v);
		if (value < min) {
			snprintf(err, errlen, "%s %lld%s below allowed threshold of %lld%s", r->label,
				 (long long)value, r->unit, (long long)min, r->unit);
			goto fail;
		}
		if (value > max) {
			snprintf(err, errlen, "%s %lld%s exceeds allowed threshold of %lld%s", r->label,
				 (long long)value, r->unit, (long long)max, r->unit);
			goto fail;
		}
		json_object_set_new(out, r->key, json_integer(value));
	}
	v = json_object_get(given, "instances");
	if (!v || json_is_null(v))
		v = json_object_get(old, "instances");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			snprintf(err, errlen, "The request content was malformed:\nlimits.instances "
					      "must be a non-negative whole number");
			goto fail;
		}
		if (json_integer_value(v) > ns->concurrent_invocations) {
			snprintf(err, errlen,
				 "Max action instance concurrency must not exceed your namespace "
				 "concurrency of %lld.",
				 (long long)ns->concurrent_invocations);
			goto fail;
		}
		json_object_set(out, "instances", v);
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}
