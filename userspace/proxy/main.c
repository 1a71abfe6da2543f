// SPDX-License-Identifier: Apache-2.0
/* xwhisk-proxy: runs inside a sandbox and speaks the OpenWhisk runtime protocol. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: xwhisk-proxy --kind KIND [-- COMMAND...]\n"
		       "\n"
		       "Serves POST /init and POST /run on port 8080 inside a sandbox.\n");
		return 0;
	}
	fprintf(stderr, "xwhisk-proxy: not implemented yet\n");
	return 1;
}
