// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "util.h"

/* As url_decode; *out_len is the decoded length (a %00 makes it differ from strlen). */
static char *decode(const char *s, size_t len, bool plus_space, size_t *out_len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len) {
				free(out);
				return NULL;
			}
			hi = hex_digit(s[i + 1]);
			lo = hex_digit(s[i + 2]);
			if (hi < 0 || lo < 0) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus_space && s[i] == '+') {
			*o++ = ' ';
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
}

char *url_decode(const char *s, size_t len, bool plus_space)
{
	size_t n;

	return decode(s, len, plus_space, &n);
}

int url_path_split(const char *path, char **segs, int max, bool *trailing_slash)
{
	const char *p = path;
	int n = 0;

	*trailing_slash = false;
	while (*p == '/')
		p++;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p), dlen;

		if (n == max)
			goto bad;
		segs[n] = decode(p, len, false, &dlen);
		if (!segs[n])
			goto bad;
		if (strlen(segs[n]) != dlen) {
			free(segs[n]);
			goto bad;
		}
		n++;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p)
			*trailing_slash = true;
	}
	return n;
bad:
	while (n)
		free(segs[--n]);
	return -1;
}

char *query_get(const char *query, const char *key)
{
	size_t klen = strlen(key);
	const char *p = query;

	while (p && *p) {
		const char *end = strchr(p, '&'), *eq;
		size_t plen = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', plen);
		if ((size_t)((eq ? eq : p + plen) - p) == klen && !strncmp(p, key, klen)) {
			if (!eq)
				return strdup("");
			return url_decode(eq + 1, plen - (size_t)(eq + 1 - p), true);
		}
		p = end ? end + 1 : NULL;
	}
	return NULL;
}
