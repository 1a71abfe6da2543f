// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP response parser: bytes from a server into the client (userspace/lib/
 * http_client.c), in pieces, from memory (http_call_parse: the parser and what the client
 * makes of each read, without sockets). The control byte's top 3 bits pick a HEAD
 * request, a streamed body and a body limit: the ways callers use the client.
 *
 * fuzz_http_response_socket is this file with HTTP_RESPONSE_SOCKET: the same over
 * loopback TCP through a pool and the event loop (connect, request, reads, the close),
 * some ten times slower.
 */
#include "fuzz.h"
#include "http_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	harness_setup();
#ifdef HTTP_RESPONSE_SOCKET
	harness_fetch(NULL, data, size, size ? data[0] >> 5 : 0);
#else
	harness_parse(NULL, data, size, size ? data[0] >> 5 : 0);
#endif
	return 0;
}
