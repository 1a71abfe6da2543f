/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenWhisk management API (/api/v1) served by xwhisk-controller. One request is
 * one struct api_req; handlers answer through api_reply()/api_error(), which add
 * X-Request-ID, CORS and OpenWhisk's error body.
 */
#ifndef XWHISK_API_H
#define XWHISK_API_H

#include <jansson.h>
#include <stdbool.h>

#include "http.h"
#include "entity_limits.h"
#include "runtimes.h"
#include "store.h"

#define API_MAX_SEGS 8

struct controller;

struct api_req {
	struct controller *ctl;
	struct store *st;
	struct http_request *http;
	char tid[72];
	bool authed;
	struct subject subject;
	struct ns_limits limits;
	/* decoded path segments after /api/v1/ */
	char *seg[API_MAX_SEGS];
	int nseg;
	bool trailing_slash;
	const char *ns; /* the namespace named in the path, "_" resolved */
	/* A large body is parsed off the loop (offload.h) before the request is routed:
	 * api_body_object() takes the result. */
	bool body_parsed;
	json_t *body_json;
	char body_err[256];
	/* a large body: its reply is dumped off the loop too (as any reply holding as much) */
	bool large;
	/* The handler goes on later (off the loop, then back): it calls api_end(). */
	bool deferred;
};

/* The end of a request whose handler deferred its work: answered (a 500 when it was not)
 * and freed. */
void api_end(struct api_req *r);

/* Bodies from this size on are parsed, and their replies dumped, off the loop. */
#define API_OFFLOAD_MIN (256u << 10)

/* Replies (each exactly once per request). api_reply steals body. */
void api_reply(struct api_req *r, int status, json_t *body);
void api_reply_raw(struct api_req *r, int status, const char *content_type, const char *body,
		   size_t len);
void api_error(struct api_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void api_error_not_found(struct api_req *r);
void api_error_forbidden(struct api_req *r);
/* The 409 of a name used by another collection. */
void api_error_wrong_collection(struct api_req *r);
void api_error_method(struct api_req *r, const char *allowed);
/* A store or entity-layer error (-ENOENT, -EEXIST, -ESTALE, -EBUSY, -EACCES,
 * -EMEDIUMTYPE, else 500) as OpenWhisk answers it. */
void api_error_store(struct api_req *r, int err);

/* JSON lines (NDJSON): one JSON text per line, as activation records are spooled. */
#define API_NDJSON "application/x-ndjson"
/* The body is JSON lines (Content-Type API_NDJSON) rather than one JSON document. */
bool api_body_is_lines(struct api_req *r);
/* The request body as a JSON object ({} when empty); replies 400/415 and returns NULL. */
json_t *api_body_object(struct api_req *r);
/* A query parameter as bool (absent -> def). */
bool api_query_bool(struct api_req *r, const char *key, bool def);
/* limit, skip and count for listing collection; replies 400 and returns false on bad input. */
bool api_list_params(struct api_req *r, const char *collection, unsigned *skip, unsigned *limit,
		     bool *count);
/* True when the path's namespace is the caller's own. */
bool api_own_namespace(struct api_req *r);

/* Collections. Each gets the request with seg[0]="namespaces", seg[1]=ns, seg[2]=collection. */
void api_actions(struct api_req *r);
void api_packages(struct api_req *r);
void api_triggers(struct api_req *r);
void api_rules(struct api_req *r);
void api_activations(struct api_req *r);
void api_namespaces(struct api_req *r);
void api_limits(struct api_req *r);
void api_info_root(struct api_req *r);
void api_info_v1(struct api_req *r);
void api_info_docs(struct api_req *r);
/* /internal/v1/...: node-to-controller calls, authenticated by the node token. */
void api_internal(struct api_req *r);

/* GET /metrics: Prometheus text. */
void api_metrics(struct api_req *r);

/* HTTP entry point of the controller. */
void api_handle(struct http_request *req, void *data);
/* http_server_opts.head_check (data: the controller): a large body under /api is read only
 * for valid credentials, else 401 with OpenWhisk's texts, unread (issue 11, item 2). */
int api_head_check(struct http_request *req, const char **msg, void *data);

#endif
