/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /api/v1/namespaces/{ns}/actions/[{pkg}/]{name}: OpenWhisk's invoke. Authenticates,
 * throttles (before entitlement, as OpenWhisk does), resolves, then runs a primitive action
 * or a sequence. Blocking invokes wait up to 60 s (or ?timeout) and then answer 202 while
 * the activation goes on; non-blocking ones answer 202 at once.
 */
#ifndef XWHISK_INVOKE_HTTP_H
#define XWHISK_INVOKE_HTTP_H

#include <jansson.h>

#include "http.h"

struct worker;

void invoke_http(struct worker *w, struct http_request *req, const char *tid, const char *ns,
		 const char *pkg, const char *name);

/* The HTTP answer to a finished activation (stored record): 200/502/500, the record in
 * extended form or only its result, x-openwhisk-activation-id. */
void reply_activation(struct http_request *req, const char *tid, const json_t *record,
		      bool result_only);

/* Merges the request's parameters over the action's; false (with OpenWhisk's 400
 * message in msg) when the action is final and the request redefines one. */
bool merge_parameters(const json_t *base, const json_t *request, bool final_params,
		      json_t **out);

#endif
