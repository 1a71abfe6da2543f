/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Web actions: /api/v1/web/{ns}/{pkg|default}/{action}[.ext][/path], any method. The action
 * runs as its namespace's owner; the HTTP request becomes __ow_* parameters and the result
 * becomes the HTTP response according to the extension (.http, .json, .html, .svg, .text).
 */
#ifndef XWHISK_WEB_H
#define XWHISK_WEB_H

#include "http.h"

struct worker;

/* rest: the path after "/api/v1/web/", still percent-encoded. */
void web_http(struct worker *w, struct http_request *req, const char *tid, const char *rest);

#endif
