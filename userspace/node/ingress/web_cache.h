/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Web actions and the node's response cache: a GET or HEAD is looked up by its action
 * (revision), extension, extra path, query and authenticated caller; a response the action
 * marked fresh (http_cache.h) is kept as the activation's answer, so a hit is rendered by
 * web_response_build exactly as a run would be. Vary is a second level: the primary key
 * then holds the header names, the response sits under a key that adds their values.
 */
#ifndef XWHISK_WEB_CACHE_H
#define XWHISK_WEB_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "node/activation/action_cache.h"
#include "node/activation/result_cache.h"
#include "node/ingress/web_response.h"

struct web_cache_use {
	bool read, store;
	bool hit;
	bool keyed;                  /* key is computed (only when it is needed) */
	uint8_t key[RESULT_KEY_LEN]; /* the primary key */
	enum web_ext ext;            /* what the key is computed from, with the request */
	const char *extra_path, *caller_ns;
	uint64_t epoch;
	uint64_t age_s;              /* of a hit */
};

/* What req may do with the cache (nothing when rc is NULL); caller_ns: the authenticated
 * caller (its answers are its own), or NULL; extra_path and caller_ns must live as long as
 * use. An action none of whose answers was ever kept is not looked up: no digest, no
 * lookup, no miss counted (as for invokes). */
void web_cache_prepare(struct result_cache *rc, struct web_cache_use *use,
		       const struct http_request *req, const struct action_entry *a,
		       enum web_ext ext, const char *extra_path, const char *caller_ns);
/* The kept answer, {"statusCode", "result"}, for req (a reference), or NULL; counts the hit
 * or the miss. */
json_t *web_cache_lookup(struct result_cache *rc, struct web_cache_use *use,
			 const struct http_request *req, uint64_t now_ms);
/* After a run: keeps the record's answer when its response r says a shared cache may. */
void web_cache_store(struct result_cache *rc, struct web_cache_use *use,
		     const struct http_request *req, struct action_entry *a,
		     uint32_t ns_idx, int code, const json_t *result, const struct web_response *r,
		     uint64_t now_ms);
/* 304 when req is a conditional GET or HEAD that r's 200 validators satisfy, else r's. */
int web_cache_status(const struct http_request *req, const struct web_response *r);

#endif
