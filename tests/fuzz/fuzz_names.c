// SPDX-License-Identifier: Apache-2.0
/*
 * Names and paths: OpenWhisk's name rules and fully qualified names (userspace/lib/
 * names.c), the request path's segments, percent-decoding and query lookup (url.c).
 * The whole input and each of its first MAX_LINES lines is tried as each of them; what
 * they promise is checked.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "names.h"

/* Every line costs a dozen allocations under ASan: inputs of hundreds of lines made this
 * target run at a few thousand inputs a second. */
#define MAX_LINES 8

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void one(const char *s, size_t len)
{
	char *segs[6], out[3 * NAME_MAX_LEN + 8], *v;
	struct fqn f;
	bool trailing;
	int n;

	if (!name_check(s))
		check(len >= 1 && len <= NAME_MAX_LEN);
	for (int allow_short = 0; allow_short < 2; allow_short++) {
		if (fqn_parse(s, "guest", allow_short, &f))
			continue;
		/* What parses is made of valid names and formats back into a valid path. */
		check(name_valid(f.ns) && name_valid(f.name) && (!f.pkg[0] || name_valid(f.pkg)));
		fqn_format(&f, out, sizeof(out));
		check(out[0] == '/');
		fqn_docid(&f, out, sizeof(out));
	}
	n = url_path_split(s, segs, 6, &trailing);
	check(n >= -1 && n <= 6);
	for (int i = 0; i < n; i++)
		check(!strchr(segs[i], '/') || strstr(s, "%2"));
	url_path_free(segs, n);
	v = url_decode(s, len, true);
	check(!v || strlen(v) <= len);
	free(v);
	free(query_get(s, "blocking"));
	free(query_get(s, ""));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	char *line, *save = NULL;
	int lines = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	one(copy, strlen(copy));
	for (line = strtok_r(copy, "\n", &save); line && lines < MAX_LINES;
	     line = strtok_r(NULL, "\n", &save), lines++)
		one(line, strlen(line));
	free(copy);
	return 0;
}
