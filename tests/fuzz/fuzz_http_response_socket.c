// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_http_response through a socket (see there): the client's read loop, connect and
 * close around the parser. Its corpus is http_response's.
 */
#define HTTP_RESPONSE_SOCKET 1
#include "fuzz_http_response.c"
