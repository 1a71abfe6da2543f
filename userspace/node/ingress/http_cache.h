/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 9111's rules for a shared cache, as far as the node's response cache follows them:
 * what a request's Cache-Control asks, whether a web action's response may be kept and for
 * how long (s-maxage, max-age, Expires; no-store, private, no-cache, Vary: *), and when a
 * conditional request is answered 304 (If-None-Match with weak comparison, else
 * If-Modified-Since). Pure: strings in, decisions out, so every rule has a unit test.
 */
#ifndef XWHISK_HTTP_CACHE_H
#define XWHISK_HTTP_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"

/* What a request asks of a cache. */
#define HTTP_CACHE_NO_CACHE 1u /* not answered from it (no-cache, Pragma: no-cache) */
#define HTTP_CACHE_NO_STORE 2u /* its answer not kept either (no-store) */
unsigned http_cache_request(const struct http_request *req);

/* The longest the node keeps a response, whatever it says. */
#define HTTP_CACHE_TTL_MAX_S (24u * 3600)

struct http_cache_policy {
	bool storable;
	uint64_t ttl_s;  /* its freshness lifetime, when storable */
	char vary[256];  /* the request headers it varies on, lowercased, "a,b"; "" none */
};

/*
 * Whether a shared cache may keep a response to a GET of status with headers
 * ([[name, value], ...] as the action set them) and for how long; authorized: the request
 * carried credentials (then only public, s-maxage or must-revalidate allow it). Only
 * explicit freshness counts: the node guesses no heuristic lifetime.
 */
void http_cache_policy(int status, const json_t *headers, bool authorized, uint64_t now_s,
		       struct http_cache_policy *out);
/* A conditional GET or HEAD (If-None-Match, If-Modified-Since; NULL when absent) against
 * a 200's validators (ETag, Last-Modified; NULL when absent): true when 304 answers it. */
bool http_cache_not_modified(const char *if_none_match, const char *if_modified_since,
			     const char *etag, const char *last_modified);
/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") in seconds since the epoch; -EINVAL. */
int http_date_parse(const char *s, uint64_t *out);
/* The value of the first header named name (any case) in [[name, value], ...], or NULL. */
const char *http_cache_header(const json_t *headers, const char *name);

#endif
