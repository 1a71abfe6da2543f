/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace throttles, on the memory-mapped "namespaces" map so every worker (and a
 * restarted node) shares them: invocations per calendar minute, concurrent invocations,
 * trigger fires per calendar minute. As in OpenWhisk, a request is counted first and then
 * checked, and rejected requests count too; the limit is on those admitted, so a limit
 * raised during the minute (a cluster node's share, budget_lease.h) admits as many more.
 */
#ifndef XWHISK_THROTTLE_H
#define XWHISK_THROTTLE_H

#include <stdint.h>

#include "xwhisk/maps.h"

enum throttle_verdict {
	THROTTLE_OK = 0,
	THROTTLE_RATE,       /* too many in this minute */
	THROTTLE_CONCURRENT, /* too many in flight */
};

struct throttle_result {
	enum throttle_verdict verdict;
	uint32_t count;         /* what was counted (minute count or in-flight) */
	uint32_t allowed;
	uint32_t retry_after_s; /* for Retry-After */
};

/* Counts an invocation; on THROTTLE_OK the caller owns one in-flight unit and must call
 * throttle_release once the activation ends. */
struct throttle_result throttle_invoke(struct xw_namespace *ns, uint64_t now_ms);
void throttle_release(struct xw_namespace *ns);
struct throttle_result throttle_fire(struct xw_namespace *ns, uint64_t now_ms);
/* OpenWhisk's 429 text for a result. */
void throttle_message(const struct throttle_result *r, char *out, size_t size);

#endif
