// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "node/ingress/http_cache.h"

/* The directives of a Cache-Control value that decide. */
struct directives {
	bool no_store, no_cache, private_, public_, must_revalidate;
	bool has_max_age, has_s_maxage;
	uint64_t max_age, s_maxage;
};

/* A delta-seconds value; an invalid one makes the response stale (RFC 9111 1.2.2). */
static uint64_t delta_seconds(const char *v, size_t len)
{
	uint64_t n = 0;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	if (!len)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)v[i]))
			return 0;
		if (n < UINT32_MAX)
			n = n * 10 + (uint64_t)(v[i] - '0');
	}
	return n;
}

/* A directive's seconds (none given: 0, stale); true, it was there. */
static bool set_seconds(uint64_t *out, const char *v, size_t len)
{
	*out = v ? delta_seconds(v, len) : 0;
	return true;
}

static bool name_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && !strncasecmp(s, name, len);
}

/* Adds the directives of one Cache-Control value ("a, b=1, c="x,y"") to d. */
static void parse_directives(const char *v, struct directives *d)
{
	const char *p = v;

	while (p && *p) {
		const char *start, *eq, *end;
		size_t nlen, vlen = 0;
		bool quoted = false;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		start = p;
		/* A quoted value may hold commas (private="a, b"). */
		for (end = p; *end && (quoted || *end != ','); end++)
			if (*end == '"')
				quoted = !quoted;
		eq = memchr(start, '=', (size_t)(end - start));
		nlen = (size_t)((eq ? eq : end) - start);
		while (nlen && (start[nlen - 1] == ' ' || start[nlen - 1] == '\t'))
			nlen--;
		if (eq) {
			eq++;
			while (*eq == ' ')
				eq++;
			vlen = (size_t)(end - eq);
			while (vlen && (eq[vlen - 1] == ' ' || eq[vlen - 1] == '\t'))
				vlen--;
		}
		if (name_is(start, nlen, "no-store"))
			d->no_store = true;
		else if (name_is(start, nlen, "no-cache"))
			d->no_cache = true;
		else if (name_is(start, nlen, "private"))
			d->private_ = true;
		else if (name_is(start, nlen, "public"))
			d->public_ = true;
		else if (name_is(start, nlen, "must-revalidate") ||
			 name_is(start, nlen, "proxy-revalidate"))
			d->must_revalidate = true;
		else if (name_is(start, nlen, "max-age"))
			d->has_max_age = set_seconds(&d->max_age, eq, vlen);
		else if (name_is(start, nlen, "s-maxage"))
			d->has_s_maxage = set_seconds(&d->s_maxage, eq, vlen);
		p = end;
	}
}

unsigned http_cache_request(const struct http_request *req)
{
	struct directives d = { 0 };
	const char *pragma = http_req_header(req, "Pragma");
	unsigned out = 0;

	for (size_t i = 0; i < req->nheaders; i++)
		if (!strcasecmp(req->headers[i].name, "Cache-Control"))
			parse_directives(req->headers[i].value, &d);
	if (d.no_cache || d.no_store || (pragma && strcasestr(pragma, "no-cache")))
		out |= HTTP_CACHE_NO_CACHE;
	if (d.no_store)
		out |= HTTP_CACHE_NO_CACHE | HTTP_CACHE_NO_STORE;
	return out;
}

const char *http_cache_header(const json_t *headers, const char *name)
{
	size_t i;
	json_t *h;

	json_array_foreach((json_t *)headers, i, h)
		if (!strcasecmp(json_string_value(json_array_get(h, 0)) ?: "", name))
			return json_string_value(json_array_get(h, 1));
	return NULL;
}

int http_date_parse(const char *s, uint64_t *out)
{
	struct tm tm = { 0 };
	const char *end;
	time_t t;

	if (!s)
		return -EINVAL;
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -EINVAL;
	t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*out = (uint64_t)t;
	return 0;
}

/* The Vary names, lowercased and comma separated, into out; false for "*" or too many. */
static bool collect_vary(const json_t *headers, char *out, size_t size)
{
	size_t i, used = 0;
	json_t *h;

	out[0] = '\0';
	json_array_foreach((json_t *)headers, i, h) {
		const char *v;

		if (strcasecmp(json_string_value(json_array_get(h, 0)) ?: "", "Vary"))
			continue;
		v = json_string_value(json_array_get(h, 1)) ?: "";
		while (*v) {
			size_t n;

			v += strspn(v, " \t,");
			n = strcspn(v, " \t,");
			if (!n)
				break;
			if (n == 1 && *v == '*')
				return false;
			if (used + n + 2 > size)
				return false;
			if (used)
				out[used++] = ',';
			for (size_t k = 0; k < n; k++)
				out[used++] = (char)tolower((unsigned char)v[k]);
			out[used] = '\0';
			v += n;
		}
	}
	return true;
}

static bool status_cacheable(int status)
{
	return status == 200 || status == 203 || status == 204 || status == 301 || status == 404;
}

void http_cache_policy(int status, const json_t *headers, bool authorized, uint64_t now_s,
		       struct http_cache_policy *out)
{
	struct directives d = { 0 };
	uint64_t expires, date, ttl = 0;
	size_t i;
	json_t *h;

	memset(out, 0, sizeof(*out));
	if (!status_cacheable(status))
		return;
	json_array_foreach((json_t *)headers, i, h)
		if (!strcasecmp(json_string_value(json_array_get(h, 0)) ?: "", "Cache-Control"))
			parse_directives(json_string_value(json_array_get(h, 1)) ?: "", &d);
	/* no-cache would need a revalidation with the action at every use: a run anyway. */
	if (d.no_store || d.private_ || d.no_cache)
		return;
	/* Per user answers: a shared cache keeps them only when the action says it may. */
	if (authorized && !d.public_ && !d.has_s_maxage && !d.must_revalidate)
		return;
	/* A cookie is someone's: not handed to others, whatever the freshness says. */
	if (http_cache_header(headers, "Set-Cookie"))
		return;
	if (d.has_s_maxage) {
		ttl = d.s_maxage;
	} else if (d.has_max_age) {
		ttl = d.max_age;
	} else if (http_cache_header(headers, "Expires")) {
		/* An invalid Expires means already expired. */
		if (!http_date_parse(http_cache_header(headers, "Expires"), &expires)) {
			if (http_date_parse(http_cache_header(headers, "Date"), &date))
				date = now_s;
			ttl = expires > date ? expires - date : 0;
		}
	}
	if (!ttl || !collect_vary(headers, out->vary, sizeof(out->vary)))
		return;
	out->ttl_s = ttl > HTTP_CACHE_TTL_MAX_S ? HTTP_CACHE_TTL_MAX_S : ttl;
	out->storable = true;
}

/* The opaque part of an entity tag: W/"x" and "x" compare equal (weak comparison). */
static void opaque_tag(const char *s, size_t len, const char **tag, size_t *tlen)
{
	if (len >= 2 && !strncmp(s, "W/", 2)) {
		s += 2;
		len -= 2;
	}
	*tag = s;
	*tlen = len;
}

static bool etag_listed(const char *list, const char *etag)
{
	const char *mine, *p = list;
	size_t mlen;

	opaque_tag(etag, strlen(etag), &mine, &mlen);
	while (*p) {
		const char *t;
		size_t n, tlen;

		p += strspn(p, " \t,");
		n = strcspn(p, ",");
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (!n)
			break;
		if (n == 1 && *p == '*')
			return true;
		opaque_tag(p, n, &t, &tlen);
		if (tlen == mlen && !memcmp(t, mine, mlen))
			return true;
		p += n;
	}
	return false;
}

bool http_cache_not_modified(const char *if_none_match, const char *if_modified_since,
			     const char *etag, const char *last_modified)
{
	uint64_t since, modified;

	/* With If-None-Match, If-Modified-Since is ignored (RFC 9110 13.1.3). */
	if (if_none_match)
		return etag && etag_listed(if_none_match, etag);
	if (!if_modified_since || !last_modified || http_date_parse(if_modified_since, &since) ||
	    http_date_parse(last_modified, &modified))
		return false;
	return modified <= since;
}
