/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Resolved actions, as the controller resolves them for a subject (through packages and
 * bindings, with parameters merged), cached per (subject, name) and dropped when the event
 * stream names any document they were built from. Entries are reference counted: an
 * activation keeps its entry alive even after the cache dropped it. Thread-safe.
 *
 * Each entry has an action id, the first 8 bytes of SHA-256("subject|docid@revision"):
 * sandboxes are per invoking namespace (as OpenWhisk's containers are) and per revision,
 * so an updated action gets fresh sandboxes and the old ones age out.
 */
#ifndef XWHISK_ACTION_CACHE_H
#define XWHISK_ACTION_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "pinned_maps.h"

struct action_entry {
	int refs;
	char *key;        /* "subject\nname" */
	char *subject;
	uint64_t id;
	json_t *doc;      /* the controller's resolved document (read-only) */
	const char *docid, *path, *name, *version, *kind, *binding;
	char fqn[600];    /* "/path/name": what /run's action_name says */
	uint32_t timeout_ms, memory_mb, logs_mb, concurrency;
	int64_t revision;
	enum xw_kind xkind;
	bool provide_api_key;
	bool web_export, raw_http, web_custom_options, final_params, web_stream;
	json_t *require_whisk_auth; /* the annotation's value, or NULL */
	json_t *run_params;         /* parameters without init ones: the /run value base */
	json_t *init_env;           /* init parameters as strings */
	json_t *components;         /* for sequences */
	/* The annotations every record of it carries (path, kind, limits, binding), as JSON
	 * members without their brackets: written once, not per activation. */
	char *record_annotations;
	size_t record_annotations_len;
	/* Learnt while it runs (any worker, relaxed atomics): whether a waiting activation
	 * is served sooner by a busy sandbox freeing up or by a new one. */
	uint32_t run_us;            /* a /run's duration, moving average (0: not known yet) */
	uint32_t run_us_first;      /* run_us is a sandbox's first run: a warm one replaces it */
	uint32_t cold_us;           /* from asking for a sandbox to its warm news, moving average */
	/* An answer of it was kept (an invoke's __ow_cache, a web answer's Cache-Control):
	 * only then do its invokes and web GETs pay for a digest and a lookup in the
	 * response cache. */
	uint32_t results_kept;
};

struct action_cache;

struct action_cache *action_cache_new(struct xw_maps *maps);
void action_cache_free(struct action_cache *c);
/* A new reference to the cached entry, or NULL. */
struct action_entry *action_cache_get(struct action_cache *c, const char *subject,
				      const char *name);
/* Counts invalidations: read before asking the controller, given to action_cache_put. */
uint64_t action_cache_epoch(struct action_cache *c);
/* Builds an entry from the controller's answer and caches it unless an invalidation came
 * after epoch (the answer may predate the change); returns a new reference either way.
 * subject_idx is the subject's index in the namespaces map. */
struct action_entry *action_cache_put(struct action_cache *c, uint64_t epoch, const char *subject,
				      uint32_t subject_idx, const char *name, json_t *resolved);
/* An entry that is not cached (a reference for the caller). */
struct action_entry *action_entry_new(const char *subject, const char *name, json_t *resolved);
/* Drops every entry built from docid (NULL: all of them). */
void action_cache_invalidate(struct action_cache *c, const char *docid);
/* fn hears every invalidation after it happened, so what else was built from those
 * documents goes at the same moment (the response cache). One listener. */
typedef void (*action_cache_dropped)(const char *docid, void *data);
void action_cache_on_invalidate(struct action_cache *c, action_cache_dropped fn, void *data);
struct json_writer;
/* Writes the annotations every record of e carries into an open array, with kind as the
 * kind annotation (a record may say "sequence" of what has none). */
void action_entry_write_annotations(const struct action_entry *e, const char *kind,
				    struct json_writer *jw);
void action_entry_ref(struct action_entry *e);
void action_entry_unref(struct action_entry *e);

#endif
