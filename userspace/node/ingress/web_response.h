/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A web action's result as an HTTP response, as OpenWhisk's WebActions turns it: by the
 * URL's extension (.http: statusCode, headers and body from the result; .json, .html, .svg,
 * .text: one field of it), base64 bodies decoded for binary types. Pure: no request, no
 * socket, so every rule has a unit test.
 */
#ifndef XWHISK_WEB_RESPONSE_H
#define XWHISK_WEB_RESPONSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum web_ext { EXT_HTTP, EXT_JSON, EXT_HTML, EXT_SVG, EXT_TEXT };

struct web_response {
	int status;
	const char *ctype;  /* NULL: no Content-Type (no body) */
	char *body;         /* owned; NULL with len 0 when none */
	size_t len;
	json_t *headers;    /* [[name, value], ...] the action set, without the framing ones */
	const char *error;  /* the result is no valid response: a 400 with this message */
	json_t *result;     /* held: ctype may point into it */
};

/* From an activation's response (its statusCode and result). Fills out
 * (web_response_clear frees it). */
void web_response_build(int code, const json_t *result, enum web_ext ext,
			struct web_response *out);
void web_response_clear(struct web_response *r);

/* Neither text nor JSON nor XML: a body the action gives as base64. */
bool media_is_binary(const char *content_type);

#endif
