// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "node/ingress/reply.h"
#include "util.h"

void reply_headers(struct http_request *req, const char *tid)
{
	http_resp_header(req, "X-Request-ID", "%s", tid);
	http_resp_header(req, "Access-Control-Allow-Origin", "*");
	http_resp_header(req, "Access-Control-Allow-Headers",
			 "Authorization, Origin, X-Requested-With, Content-Type, Accept, User-Agent");
	http_resp_header(req, "Access-Control-Allow-Methods", "GET, DELETE, POST, PUT, HEAD");
}

void reply_json(struct http_request *req, const char *tid, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	reply_headers(req, tid);
	http_resp_send(req, status, "application/json", text ? text : "", text ? strlen(text) : 0);
	free(text);
	json_decref(body);
}

void reply_json_text(struct http_request *req, const char *tid, int status, const char *json,
		     size_t len)
{
	reply_headers(req, tid);
	http_resp_send(req, status, "application/json", json, len);
}

void reply_error(struct http_request *req, const char *tid, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status == 401)
		http_resp_header(req, "WWW-Authenticate", "Basic realm=\"OpenWhisk secure realm\"");
	reply_json(req, tid, status, json_pack("{s:s,s:s}", "error", msg, "code", tid));
}

void reply_throttled(struct http_request *req, const char *tid, const char *message,
		     unsigned retry_after_s)
{
	http_resp_header(req, "Retry-After", "%u", retry_after_s ? retry_after_s : 1);
	reply_error(req, tid, 429, "%s", message);
}

json_t *request_headers_json(const struct http_request *req)
{
	json_t *h = json_object();

	for (size_t i = 0; i < req->nheaders; i++) {
		char name[128];
		size_t n = 0;

		for (const char *p = req->headers[i].name; *p && n < sizeof(name) - 1; p++)
			name[n++] = (char)tolower((unsigned char)*p);
		name[n] = '\0';
		json_object_set_new(h, name, json_string(req->headers[i].value));
	}
	return h;
}

bool media_is_json(const char *ct)
{
	return ct && (!strncasecmp(ct, "application/json", 16) || strstr(ct, "+json"));
}

unsigned long long request_oversize(const struct http_request *req)
{
	unsigned long long n = req->body.len > req->content_length ? req->body.len
								   : req->content_length;

	return n > PAYLOAD_MAX ? n : 0;
}
