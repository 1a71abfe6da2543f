/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /api/v1/namespaces/{ns}/actions/[{pkg}/]{name}: OpenWhisk's invoke. Parses,
 * authenticates, is admitted by the activation pipeline (the throttles, before entitlement
 * as OpenWhisk checks them), resolves, and hands the activation to the pipeline. Blocking
 * invokes wait up to 60 s (or ?timeout) and then answer 202 while the activation goes on;
 * non-blocking ones answer 202 at once.
 */
#ifndef XWHISK_INVOKE_H
#define XWHISK_INVOKE_H

#include <jansson.h>

#include "http.h"
#include "node/activation/record.h"

struct worker;

void invoke_http(struct worker *w, struct http_request *req, const char *tid, const char *ns,
		 const char *pkg, const char *name);

/* The HTTP answer to a finished activation (stored record): 200/502/500, the record in
 * extended form or only its result, x-openwhisk-activation-id. */
void reply_activation(struct http_request *req, const char *tid, struct record *record,
		      bool result_only);

#endif
