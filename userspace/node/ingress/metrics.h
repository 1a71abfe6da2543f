/* SPDX-License-Identifier: Apache-2.0 */
/* GET /metrics on the node: Prometheus text, summed over the workers. */
#ifndef XWHISK_METRICS_H
#define XWHISK_METRICS_H

#include "http.h"

struct node;

#define STAT_ADD(w, field, n) __atomic_fetch_add(&(w)->stats.field, (n), __ATOMIC_RELAXED)
#define STAT_INC(w, field) STAT_ADD(w, field, 1)

void metrics_http(struct node *node, struct http_request *req);

#endif
