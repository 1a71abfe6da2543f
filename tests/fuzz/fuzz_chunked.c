// SPDX-License-Identifier: Apache-2.0
/*
 * Chunked transfer decoding, both ways: the input is the body after a fixed
 * "Transfer-Encoding: chunked" head, sent to the server as a request or to the client as
 * a response (stored, streamed or limited), so that mutations land in chunk sizes,
 * extensions, CRLFs and trailers rather than in the head. Bits 5 and 6 of the control byte
 * pick which of the four (all four, one after the other, made every input cost four).
 */
#include "fuzz.h"
#include "http_harness.h"

#define RESPONSE_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

static void handler(struct http_request *req, void *data)
{
	if (req->error_status) {
		http_resp_send(req, req->error_status, "text/plain", NULL, 0);
		return;
	}
	/* Echo what was decoded, chunked again. */
	http_resp_begin(req, 200, "application/octet-stream");
	(void)http_resp_chunk(req, req->body.data, req->body.len);
	http_resp_end(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_server *srv;
	static const struct http_server_opts opts = { .max_body = 4096, .max_pipeline = 4 };

	harness_setup();
	if (!srv && !(srv = http_server_new(harness_loop, &opts, handler, NULL)))
		abort();
	switch (size ? data[0] >> 5 & 3 : 0) {
	case 0:
		harness_serve(srv, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
			      data, size);
		break;
	case 1:
		harness_fetch(RESPONSE_HEAD, data, size, 0);
		break;
	case 2:
		harness_fetch(RESPONSE_HEAD, data, size, FETCH_STREAM);
		break;
	default:
		harness_fetch(RESPONSE_HEAD, data, size, FETCH_LIMIT);
		break;
	}
	return 0;
}
