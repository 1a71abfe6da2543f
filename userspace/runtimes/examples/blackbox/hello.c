// SPDX-License-Identifier: Apache-2.0
/*
 * A blackbox action in C with OpenWhisk's dockerskeleton contract: a new process per
 * activation, the arguments as one JSON string in argv[1], the result as the last
 * line on stdout.
 *
 *   cc -O2 -o exec hello.c -ljansson && zip action.zip exec
 *   wsk action create hello action.zip --native
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	json_t *args = json_loads(argc > 1 ? argv[1] : "{}", 0, NULL);
	const char *name = json_string_value(json_object_get(args, "name"));
	json_t *res = json_pack("{s:s+}", "greeting", "Hello, ", name ? name : "stranger");
	char *text = json_dumps(res, JSON_COMPACT);
	const char *id = getenv("__OW_ACTIVATION_ID");

	printf("activation %s\n", id ? id : "?");
	printf("%s\n", text ? text : "{}");
	free(text);
	json_decref(res);
	json_decref(args);
	return 0;
}
