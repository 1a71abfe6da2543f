/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's response cache (issue 14): answers the actions asked to keep, by a key the
 * caller derives (SHA-256 of the action id and what the answer depends on). Bounded in
 * bytes, least recently used first, with a fair share per namespace: while one namespace
 * holds more than the cache's size divided by the namespaces that hold entries, the
 * space it needs comes from its own entries, then from the oldest entry of any namespace
 * over its share, and only then from the oldest of all. Every entry remembers the
 * documents its action was built from (action_entry's deps), so an entity event drops
 * what an update or a delete made stale. Thread-safe: workers share one cache under one
 * mutex, held for a hash lookup or a few list moves; values are reference counted, so a
 * hit is read outside the lock.
 */
#ifndef XWHISK_RESULT_CACHE_H
#define XWHISK_RESULT_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESULT_KEY_LEN 32

/* A cached value: immutable once stored, alive while someone holds a reference. */
struct result_value {
	int refs;
	uint64_t stored_ms;  /* wall clock when it was stored */
	uint64_t expires_ms; /* fresh until then */
	size_t len;
	char data[];         /* len bytes and a NUL */
};

struct result_cache_stats {
	uint64_t hits, misses, evictions;
	uint64_t bytes, entries;
};

struct result_cache;

/* max_bytes: the budget for values and their bookkeeping (0: nothing is ever stored).
 * max_ns: namespace indexes are below it. */
struct result_cache *result_cache_new(size_t max_bytes, uint32_t max_ns);
void result_cache_free(struct result_cache *c);

/* The fresh value under key (a new reference: result_value_unref it), or NULL. An
 * expired entry found on the way is dropped. Counts nothing (result_cache_count). */
struct result_value *result_cache_get(struct result_cache *c, const uint8_t key[RESULT_KEY_LEN],
				      uint64_t now_ms);
void result_value_unref(struct result_value *v);
/* A lookup's outcome on /metrics: the caller knows when a lookup was the one that
 * decided (a web action's Vary needs two). */
void result_cache_count(struct result_cache *c, bool hit);

/* Counts invalidations: read before the activation whose answer may be stored, given to
 * result_cache_put (an answer computed across an invalidation is not kept). */
uint64_t result_cache_epoch(struct result_cache *c);
/*
 * Stores len bytes of data under key for namespace ns until now_ms + ttl_ms, replacing
 * what was there, evicting as the fair share says. deps: the documents the answer was
 * built from (a JSON array of docid strings, or NULL). 0; -ESTALE: an invalidation came
 * after epoch; -E2BIG: larger than an eighth of the cache; -EINVAL: a bad namespace or ttl;
 * -ENOMEM.
 */
int result_cache_put(struct result_cache *c, const uint8_t key[RESULT_KEY_LEN], uint32_t ns,
		     const json_t *deps, const void *data, size_t len, uint64_t now_ms,
		     uint64_t ttl_ms, uint64_t epoch);
/* Drops every entry built from docid (NULL: all of them). */
void result_cache_invalidate(struct result_cache *c, const char *docid);
void result_cache_stats(struct result_cache *c, struct result_cache_stats *out);
/* Bytes namespace ns holds now. */
size_t result_cache_ns_bytes(struct result_cache *c, uint32_t ns);

#endif
