// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "activation.h"
#include "node/ingress/reply.h"
#include "node/ingress/web_response.h"
#include "util.h"

bool media_is_binary(const char *ct)
{
	char base[128];
	size_t n;

	if (!ct)
		return false;
	n = strcspn(ct, ";");
	if (n >= sizeof(base))
		n = sizeof(base) - 1;
	memcpy(base, ct, n);
	base[n] = '\0';
	for (char *p = base; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!strncmp(base, "text/", 5) || strstr(base, "json") || strstr(base, "xml") ||
	    strstr(base, "javascript") || !strcmp(base, "application/x-www-form-urlencoded"))
		return false;
	return true;
}

void web_response_clear(struct web_response *r)
{
	free(r->body);
	json_decref(r->headers);
	json_decref(r->result);
	memset(r, 0, sizeof(*r));
}

static void set_body(struct web_response *r, int status, const char *ctype, const void *body,
		     size_t len)
{
	r->status = status;
	r->ctype = ctype;
	r->len = len;
	r->body = len ? malloc(len) : NULL;
	if (r->body)
		memcpy(r->body, body, len);
	else
		r->len = 0;
}

/* Takes the text of json (dumped) as the body. */
static void set_dumped(struct web_response *r, int status, const char *ctype, char *text)
{
	r->status = status;
	r->ctype = ctype;
	r->body = text;
	r->len = text ? strlen(text) : 0;
}

static bool header_value_ok(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static void add_header(struct web_response *r, const char *name, const json_t *v)
{
	char *t = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);

	json_array_append_new(r->headers, json_pack("[s,s]", name, t ? t : ""));
	free(t);
}

/* The action's headers; Content-Type is kept aside, the framing ones dropped. */
static bool take_headers(struct web_response *r, const json_t *headers, const char **ctype)
{
	const char *key;
	json_t *hv, *item;
	size_t i;

	if (headers && !json_is_object(headers))
		return false;
	json_object_foreach((json_t *)headers, key, hv) {
		if (json_is_array(hv)) {
			json_array_foreach(hv, i, item)
				if (!header_value_ok(item))
					return false;
		} else if (!header_value_ok(hv)) {
			return false;
		}
		if (!strcasecmp(key, "content-type") && json_is_string(hv)) {
			*ctype = json_string_value(hv);
			continue;
		}
		if (!strcasecmp(key, "content-length") || !strcasecmp(key, "transfer-encoding") ||
		    !strcasecmp(key, "connection"))
			continue;
		if (json_is_array(hv)) {
			json_array_foreach(hv, i, item)
				add_header(r, key, item);
		} else {
			add_header(r, key, hv);
		}
	}
	return true;
}

/* A string body: as it is, or decoded from base64 for a binary type. */
static bool string_body(struct web_response *r, int code, const char *ctype, const json_t *body)
{
	const char *s = json_string_value(body);
	size_t len = json_string_length(body), dlen;
	char *decoded;

	if (!ctype)
		ctype = "text/html";
	if (media_is_binary(ctype) || (media_is_json(ctype) && base64_looks_binary(s, len))) {
		decoded = base64_decode(s, len, &dlen);
		if (decoded) {
			r->status = code;
			r->ctype = ctype;
			r->body = decoded;
			r->len = dlen;
			return true;
		}
		if (media_is_binary(ctype))
			return false;
	}
	set_body(r, code, ctype, s, len);
	return true;
}

static int status_of(const json_t *status)
{
	if (!status)
		return 200;
	if (json_is_integer(status))
		return (int)json_integer_value(status);
	if (json_is_string(status) && *json_string_value(status))
		return (int)strtol(json_string_value(status), NULL, 10);
	return 0;
}

/* .http: the result is the response. */
static void http_result(struct web_response *r, const json_t *v)
{
	json_t *status = json_object_get(v, "statusCode"), *body = json_object_get(v, "body");
	const char *ctype = NULL;
	int code = status_of(status);

	if (code < 100 || code > 599 || !take_headers(r, json_object_get(v, "headers"), &ctype))
		goto bad;
	if (!body || json_is_null(body) || (json_is_string(body) && !json_string_length(body))) {
		r->status = status ? code : 204;
		return;
	}
	if (json_is_string(body)) {
		if (!string_body(r, code, ctype, body))
			goto bad;
		return;
	}
	set_dumped(r, code, ctype && media_is_json(ctype) ? ctype : "application/json",
		   json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY));
	return;
bad:
	json_array_clear(r->headers);
	r->error = "Response is not valid 'message/http'.";
}

/* .html, .svg, .text: the "body" field, else the extension's own field. */
static void field_result(struct web_response *r, const json_t *v, const char *field,
			 const char *ctype, bool pretty_objects, const char *error)
{
	json_t *body = json_object_get(v, "body");

	if (!body)
		body = json_object_get(v, field);
	if (json_is_string(body))
		set_body(r, 200, ctype, json_string_value(body), json_string_length(body));
	else if (pretty_objects && body)
		set_dumped(r, 200, ctype, json_dumps(body, JSON_INDENT(2) | JSON_ENCODE_ANY));
	else
		r->error = error;
}

void web_response_build(int code, const json_t *result, enum web_ext ext,
			struct web_response *out)
{
	json_t *v = (json_t *)result;

	memset(out, 0, sizeof(*out));
	out->headers = json_array();
	out->result = json_incref(v);
	if (code >= ACTIVATION_DEVELOPER_ERROR) {
		out->error = "There was an error processing your request.";
		return;
	}
	if (code == ACTIVATION_APPLICATION_ERROR && json_object_get(v, "error"))
		v = json_object_get(v, "error");
	switch (ext) {
	case EXT_JSON:
		if (json_is_object(v) || json_is_array(v))
			set_dumped(out, 200, "application/json", json_dumps(v, JSON_COMPACT));
		else
			out->error = "Response is not valid 'application/json'.";
		break;
	case EXT_HTML:
		field_result(out, v, "html", "text/html; charset=UTF-8", false,
			     "Response is not valid 'text/html'.");
		break;
	case EXT_SVG:
		field_result(out, v, "svg", "image/svg+xml", false,
			     "Response is not valid 'image/svg+xml'.");
		break;
	case EXT_TEXT:
		field_result(out, v, "text", "text/plain; charset=UTF-8", true,
			     "Response is not valid 'text/plain'.");
		break;
	case EXT_HTTP:
		http_result(out, v);
		break;
	}
}
