// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "json_text.h"

const char *json_text_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past the string whose opening quote is at p; *escaped when it holds an escape. By
 * memchr: log lines and results are most of a record's bytes. */
static const char *skip_string(const char *p, const char *end, bool *escaped)
{
	for (p++; p < end;) {
		const char *quote = memchr(p, '"', (size_t)(end - p));
		const char *bs = quote ? memchr(p, '\\', (size_t)(quote - p)) : NULL;

		if (!quote)
			return end;
		if (!bs)
			return quote + 1;
		/* An escape before the quote: past it, and look again from there. */
		*escaped = true;
		p = bs + 2;
	}
	return end;
}

const char *json_text_skip_value(const char *p, const char *end)
{
	size_t depth = 0;
	bool escaped;

	while (p < end) {
		if (*p == '"') {
			p = skip_string(p, end, &escaped);
			continue;
		}
		if (!depth && (*p == ',' || *p == '}' || *p == ']'))
			break;
		if (*p == '{' || *p == '[')
			depth++;
		else if ((*p == '}' || *p == ']') && depth)
			depth--;
		p++;
	}
	return p;
}

const char *json_text_value_end(const char *value, const char *p)
{
	while (p > value && strchr(" \t\n\r", p[-1]))
		p--;
	return p;
}

bool json_text_members(const char *p, const char *end, const char *const *keys, int n,
		       struct json_span *found)
{
	memset(found, 0, (size_t)n * sizeof(*found));
	p = json_text_ws(p, end);
	if (p == end || *p != '{')
		return false;
	for (p = json_text_ws(p + 1, end); p < end && *p == '"'; p = json_text_ws(p + 1, end)) {
		const char *key = p + 1, *value, *last;
		bool escaped = false;
		size_t klen;

		p = skip_string(p, end, &escaped);
		if (escaped)
			return false;
		klen = (size_t)(p - 1 - key);
		p = json_text_ws(p, end);
		value = json_text_ws(p + 1, end); /* past the ':' */
		p = json_text_skip_value(value, end);
		last = json_text_value_end(value, p);
		for (int i = 0; i < n; i++)
			if (strlen(keys[i]) == klen && !memcmp(keys[i], key, klen))
				found[i] = (struct json_span){value, (size_t)(last - value)};
		if (p == end || *p != ',')
			break;
	}
	return true;
}
