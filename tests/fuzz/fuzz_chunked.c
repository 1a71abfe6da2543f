// SPDX-License-Identifier: Apache-2.0
/*
 * Chunked transfer decoding, both ways: the input is the body after a fixed
 * "Transfer-Encoding: chunked" head, sent to the server as a request or to the client as
 * a response (stored, streamed or limited; parsed from memory as in fuzz_http_response),
 * so that mutations land in chunk sizes, extensions, CRLFs and trailers rather than in
 * the head. The control byte's top 3 bits pick which of the four: the server for 7 only,
 * as its socket makes an input cost ten parsed from memory (all four, one after the
 * other, made every input cost four).
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
	switch (size ? data[0] >> 5 : 0) {
	case 7:
		harness_serve(srv, "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
			      data, size);
		break;
	case 4:
	case 5:
		harness_parse(RESPONSE_HEAD, data, size, FETCH_STREAM);
		break;
	case 6:
		harness_parse(RESPONSE_HEAD, data, size, FETCH_LIMIT);
		break;
	default:
		harness_parse(RESPONSE_HEAD, data, size, 0);
		break;
	}
	return 0;
}
