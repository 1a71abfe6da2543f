// SPDX-License-Identifier: Apache-2.0
/* Namespace throttles: calendar-minute windows, concurrency, OpenWhisk's texts. */
#include <string.h>

#include "node/activation/throttle.h"
#include "test.h"

static void test_rate_window(void)
{
	struct xw_namespace ns = { .invocations_per_minute = 3, .concurrent_invocations = 100 };
	uint64_t minute = 1000ull * 60000;
	struct throttle_result r;
	char msg[128];

	for (int i = 0; i < 3; i++) {
		r = throttle_invoke(&ns, minute + (uint64_t)i);
		CHECK(r.verdict == THROTTLE_OK);
	}
	r = throttle_invoke(&ns, minute + 30000);
	CHECK(r.verdict == THROTTLE_RATE && r.count == 4 && r.allowed == 3);
	CHECK(r.retry_after_s == 30);
	throttle_message(&r, msg, sizeof(msg));
	CHECK_STR(msg, "Too many requests in the last minute (count: 4, allowed: 3).");
	/* Rejected requests count too. */
	r = throttle_invoke(&ns, minute + 30001);
	CHECK(r.count == 5);
	/* The next calendar minute starts afresh. */
	r = throttle_invoke(&ns, minute + 60000);
	CHECK(r.verdict == THROTTLE_OK && r.count == 1);
	CHECK(ns.throttled == 2);
}

static void test_concurrency(void)
{
	struct xw_namespace ns = { .invocations_per_minute = 1000, .concurrent_invocations = 2 };
	struct throttle_result r;
	char msg[128];

	CHECK(throttle_invoke(&ns, 1).verdict == THROTTLE_OK);
	CHECK(throttle_invoke(&ns, 2).verdict == THROTTLE_OK);
	r = throttle_invoke(&ns, 3);
	CHECK(r.verdict == THROTTLE_CONCURRENT && r.count == 2 && r.allowed == 2);
	throttle_message(&r, msg, sizeof(msg));
	CHECK_STR(msg, "Too many concurrent requests in flight (count: 2, allowed: 2).");
	throttle_release(&ns);
	CHECK(throttle_invoke(&ns, 4).verdict == THROTTLE_OK);
	throttle_release(&ns);
	throttle_release(&ns);
	throttle_release(&ns); /* one too many: stays at zero */
	CHECK(ns.inflight == 0);
}

static void test_fires(void)
{
	struct xw_namespace ns = { .fires_per_minute = 1 };

	CHECK(throttle_fire(&ns, 5).verdict == THROTTLE_OK);
	CHECK(throttle_fire(&ns, 6).verdict == THROTTLE_RATE);
	CHECK(throttle_fire(&ns, 60000).verdict == THROTTLE_OK);
}

/* A cluster node's share raised during the minute admits as many more, however many it
 * turned away before: the limit is on what was admitted, the count is OpenWhisk's. */
static void test_raised_share_admits(void)
{
	struct xw_namespace ns = { .invocations_per_minute = 2, .concurrent_invocations = 100 };
	uint64_t minute = 7ull * 60000;
	struct throttle_result r;
	char msg[128];

	CHECK(throttle_invoke(&ns, minute).verdict == THROTTLE_OK);
	CHECK(throttle_invoke(&ns, minute).verdict == THROTTLE_OK);
	for (int i = 0; i < 5; i++)
		CHECK(throttle_invoke(&ns, minute).verdict == THROTTLE_RATE);
	ns.invocations_per_minute = 4;
	CHECK(throttle_invoke(&ns, minute).verdict == THROTTLE_OK);
	CHECK(throttle_invoke(&ns, minute).verdict == THROTTLE_OK);
	r = throttle_invoke(&ns, minute);
	CHECK(r.verdict == THROTTLE_RATE);
	throttle_message(&r, msg, sizeof(msg));
	CHECK_STR(msg, "Too many requests in the last minute (count: 10, allowed: 4).");
	/* a new minute forgets the rejected too */
	ns.invocations_per_minute = 1;
	CHECK(throttle_invoke(&ns, minute + 60000).verdict == THROTTLE_OK);
	CHECK(throttle_invoke(&ns, minute + 60000).verdict == THROTTLE_RATE);
}

int main(void)
{
	RUN(test_rate_window);
	RUN(test_raised_share_admits);
	RUN(test_concurrency);
	RUN(test_fires);
	TEST_EXIT();
}
