// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "http.h"
#include "util.h"

/* s[0..len) percent-decoded into out (room for len + 1) and terminated; its decoded
 * length (a %00 makes it differ from strlen), or -1 on a bad escape. */
static ssize_t decode_into(const char *s, size_t len, bool plus_space, char *out)
{
	char *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus_space && s[i] == '+') {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return o - out;
}

char *url_decode(const char *s, size_t len, bool plus_space)
{
	char *out = malloc(len + 1);

	if (out && decode_into(s, len, plus_space, out) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

int url_path_split(const char *path, char **segs, int max, bool *trailing_slash)
{
	const char *p = path;
	char *store, *o;
	int n = 0;

	*trailing_slash = false;
	while (*p == '/')
		p++;
	if (!*p)
		return 0;
	/* Decoding never lengthens, and each segment's NUL takes its slash's place. */
	store = o = malloc(strlen(p) + 1);
	if (!store)
		return -1;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		ssize_t dlen;

		if (n == max)
			goto bad;
		dlen = decode_into(p, len, false, o);
		if (dlen < 0 || strlen(o) != (size_t)dlen)
			goto bad;
		segs[n++] = o;
		o += dlen + 1;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			*trailing_slash = true;
	}
	return n;
bad:
	free(store);
	return -1;
}

void url_path_free(char **segs, int n)
{
	if (n > 0)
		free(segs[0]);
}

/* Where key's raw value starts in query (*len its length; "" for a bare key), or NULL. */
static const char *query_find(const char *query, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&'), *eq;
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', plen);
		if ((size_t)((eq ? eq : p + plen) - p) == klen && !strncmp(p, key, klen)) {
			*len = eq ? plen - (size_t)(eq + 1 - p) : 0;
			return eq ? eq + 1 : p + plen;
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}

char *query_get(const char *query, const char *key)
{
	size_t len;
	const char *v = query_find(query, key, &len);

	return v ? url_decode(v, len, true) : NULL;
}

int query_copy(const char *query, const char *key, char *out, size_t size)
{
	size_t len;
	const char *v = query_find(query, key, &len);

	if (!v)
		return -ENOENT;
	/* The decoded value may be shorter than the raw one, but a value worth reading
	 * this way is short: a raw value that does not fit is refused unread. */
	if (len >= size)
		return -E2BIG;
	return decode_into(v, len, true, out) < 0 ? -EINVAL : 0;
}
