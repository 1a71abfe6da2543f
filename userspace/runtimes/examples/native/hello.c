// SPDX-License-Identifier: Apache-2.0
/*
 * A native action in C speaking the ActionLoop protocol (kind "native"): one process
 * serves every activation. Each line on stdin is a /run body, {"value":{...},
 * "activation_id":"...",...}; the answer is one JSON line on fd 3. Logs go to stdout
 * and stderr, which must be flushed before answering so they come before the
 * end-of-activation sentinel.
 *
 *   cc -O2 -o exec hello.c -ljansson && zip action.zip exec
 *   wsk action create hello action.zip --kind native
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	FILE *out = fdopen(3, "w");
	char *line = NULL;
	size_t cap = 0;

	if (!out)
		return 1;
	while (getline(&line, &cap, stdin) > 0) {
		json_t *req = json_loads(line, 0, NULL);
		json_t *value = json_object_get(req, "value");
		const char *name = json_string_value(json_object_get(value, "name"));
		const char *id = json_string_value(json_object_get(req, "activation_id"));
		json_t *res = json_pack("{s:s+}", "greeting", "Hello, ", name ? name : "stranger");
		char *text = json_dumps(res, JSON_COMPACT);

		printf("activation %s\n", id ? id : "?");
		fflush(stdout);
		fprintf(out, "%s\n", text ? text : "{}");
		fflush(out);
		free(text);
		json_decref(res);
		json_decref(req);
	}
	free(line);
	return 0;
}
