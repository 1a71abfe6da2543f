// SPDX-License-Identifier: Apache-2.0
/*
 * The HTTP request parser: bytes from a client into the server (userspace/lib/
 * http_server.c) on a socketpair, in pieces, with small limits so that 413 and 431 are
 * reached; the handler does what the routers do with a request (path segments, query,
 * request id, Basic credentials, the body as JSON) and answers, sometimes chunked.
 */
#include "fuzz.h"
#include "http_harness.h"
#include "names.h"

static void handler(struct http_request *req, void *data)
{
	char *segs[8], id[33], cred[256];
	bool trailing;
	char *q;
	json_t *body;
	int n;

	if (req->error_status) {
		http_resp_send(req, req->error_status, "text/plain", req->error_msg,
			       req->error_msg ? strlen(req->error_msg) : 0);
		return;
	}
	n = url_path_split(req->path, segs, 8, &trailing);
	for (int i = 0; i < n; i++)
		(void)name_check(segs[i]);
	url_path_free(segs, n);
	q = query_get(req->query, "blocking");
	free(q);
	(void)query_copy(req->query, "timeout", cred, 8);
	http_request_id(req, id, sizeof(id));
	if (http_req_header(req, "Authorization"))
		(void)basic_auth_decode(http_req_header(req, "Authorization"), cred, sizeof(cred));
	body = json_parse(req->body.data ? req->body.data : "", req->body.len, NULL, 0);
	json_decref(body);
	if (n > 0 && req->path[1] == 's') {
		http_resp_begin(req, 200, "application/json");
		(void)http_resp_chunk(req, id, strlen(id));
		http_resp_end(req);
		return;
	}
	http_resp_header(req, "X-Request-ID", "%s", id);
	http_resp_send(req, n < 0 ? 404 : 200, "application/json", "{}", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_server *srv;
	static const struct http_server_opts opts = {
		.max_body = 4096,
		.max_header_size = 4096,
		.max_pipeline = 4,
	};

	harness_setup();
	if (!srv && !(srv = http_server_new(harness_loop, &opts, handler, NULL)))
		abort();
	harness_serve(srv, NULL, data, size);
	return 0;
}
