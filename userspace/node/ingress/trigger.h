/* SPDX-License-Identifier: Apache-2.0 */
/*
 * POST /api/v1/namespaces/{ns}/triggers/{name}: fire. Every active rule's action is
 * invoked asynchronously as the caller (each invoke throttled as usual); the trigger's own
 * record lists one JSON line per rule. No active rule: 204 and no record.
 */
#ifndef XWHISK_TRIGGER_H
#define XWHISK_TRIGGER_H

#include "http.h"

struct worker;

void trigger_fire_http(struct worker *w, struct http_request *req, const char *tid,
		       const char *ns, const char *name);

#endif
