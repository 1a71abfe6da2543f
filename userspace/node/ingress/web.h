/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Web actions: /api/v1/web/{ns}/{pkg|default}/{action}[.ext][/path], any method. The action
 * runs as its namespace's owner; the HTTP request becomes __ow_* parameters and the result
 * becomes the HTTP response according to the extension (.http, .json, .html, .svg, .text).
 */
#ifndef XWHISK_WEB_H
#define XWHISK_WEB_H

#include <jansson.h>

#include "http.h"

struct action_entry;
struct worker;

/* rest: the path after "/api/v1/web/", still percent-encoded. */
void web_http(struct worker *w, struct http_request *req, const char *tid, const char *rest);
/* The parameters web_http runs action a with for req (rest as above; user: the
 * authenticated caller's namespace, or NULL); NULL when the path is not a web action's or
 * the request sets a reserved parameter. For the fuzz target web. */
json_t *web_request_params(struct http_request *req, const char *rest, struct action_entry *a,
			   const char *user);

#endif
