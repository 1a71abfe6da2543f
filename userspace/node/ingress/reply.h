/* SPDX-License-Identifier: Apache-2.0 */
/* Answers the node makes itself, with OpenWhisk's headers and error body. */
#ifndef XWHISK_REPLY_H
#define XWHISK_REPLY_H

#include <jansson.h>

#include "http.h"

/* The largest body an invoke, a fire or a web action takes (OpenWhisk's 1 MB). */
#define PAYLOAD_MAX (1u << 20)
#define PAYLOAD_TOO_LARGE "Request larger than allowed: %llu > %u bytes."
/* The size of req's body (read or announced) when past PAYLOAD_MAX, else 0. */
unsigned long long request_oversize(const struct http_request *req);
/* application/json or a +json type. */
bool media_is_json(const char *content_type);

/* X-Request-ID and the CORS headers of /api/v1. */
void reply_headers(struct http_request *req, const char *tid);
/* Steals body. */
void reply_json(struct http_request *req, const char *tid, int status, json_t *body);
/* A body that is JSON text already. */
void reply_json_text(struct http_request *req, const char *tid, int status, const char *json,
		     size_t len);
void reply_error(struct http_request *req, const char *tid, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The 429 of a throttle, with Retry-After. */
void reply_throttled(struct http_request *req, const char *tid, const char *message,
		     unsigned retry_after_s);
/* The request's headers as an object, names lowercased (OpenWhisk's __ow_headers). */
json_t *request_headers_json(const struct http_request *req);

#endif
