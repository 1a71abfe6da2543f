// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "http.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *url_decode(const char *s, size_t len, bool plus_space)
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
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
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
	return out;
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
