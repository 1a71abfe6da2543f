// SPDX-License-Identifier: Apache-2.0
/* /namespaces and /namespaces/{ns}/limits. */
#include "api.h"
#include "json.h"

void api_namespaces(struct api_req *r)
{
	if (r->http->method != HTTP_GET && r->http->method != HTTP_HEAD) {
		api_error_method(r, "GET");
		return;
	}
	api_reply(r, 200, json_pack("[s]", r->subject.namespace));
}

void api_limits(struct api_req *r)
{
	if (r->http->method != HTTP_GET && r->http->method != HTTP_HEAD) {
		api_error_method(r, "GET");
		return;
	}
	if (r->nseg != 3) {
		api_error(r, 400, "The request content was malformed:\nlimits takes no sub-path");
		return;
	}
	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	api_reply(r, 200, limits_to_json(&r->limits));
}
