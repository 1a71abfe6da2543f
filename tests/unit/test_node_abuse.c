// SPDX-License-Identifier: Apache-2.0
/* Refused clients that keep coming: blocked once past the line, not again while blocked. */
#include <string.h>

#include "node/ingress/abuse.h"
#include "test.h"

static void addr(uint8_t out[16], uint8_t last)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	out[12] = 192;
	out[15] = last;
}

static void test_line_and_window(void)
{
	struct abuse *a = abuse_new(3, 500);
	uint8_t x[16], y[16];

	ASSERT(a);
	addr(x, 1);
	addr(y, 2);
	CHECK(!abuse_strike(a, x, 1000));
	CHECK(!abuse_strike(a, x, 1100));
	CHECK(!abuse_strike(a, y, 1150)); /* another source counts apart */
	CHECK(abuse_strike(a, x, 1200));  /* the third within a second: block */
	CHECK(!abuse_strike(a, x, 1300)); /* blocked: not again */
	CHECK(!abuse_strike(a, x, 1650));
	CHECK(!abuse_strike(a, x, 1700)); /* the block is over: counting starts afresh */
	CHECK(!abuse_strike(a, x, 1800));
	CHECK(abuse_strike(a, x, 1900));
	/* Strikes spread over more than a second never add up. */
	CHECK(!abuse_strike(a, y, 3000));
	CHECK(!abuse_strike(a, y, 3600));
	CHECK(!abuse_strike(a, y, 4100)); /* a new second */
	CHECK(!abuse_strike(a, y, 4200));
	CHECK(abuse_strike(a, y, 4300));
	abuse_free(a);
}

static void test_off(void)
{
	struct abuse *a = abuse_new(0, 500);
	uint8_t x[16];

	addr(x, 3);
	for (int i = 0; i < 100; i++)
		CHECK(!abuse_strike(a, x, (uint64_t)i));
	abuse_free(a);
	CHECK(!abuse_strike(NULL, x, 1));
}

int main(void)
{
	RUN(test_line_and_window);
	RUN(test_off);
	TEST_EXIT();
}
