// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP response parser: bytes from a server into the client (userspace/lib/
 * http_client.c) over loopback TCP, in pieces. The control byte's top 3 bits pick a HEAD
 * request, a streamed body and a body limit: the ways callers use the client.
 */
#include "fuzz.h"
#include "http_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	harness_setup();
	harness_fetch(NULL, data, size, size ? data[0] >> 5 : 0);
	return 0;
}
