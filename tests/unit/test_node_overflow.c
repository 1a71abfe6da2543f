// SPDX-License-Identifier: Apache-2.0
/* Per-action overflow queues: order, bounds, removal. */
#include <errno.h>

#include "node/activation/invocation.h"
#include "node/activation/overflow.h"
#include "test.h"

static void test_order_and_bound(void)
{
	struct overflow *o = overflow_new(2);
	struct invocation a = { 0 }, b = { 0 }, c = { 0 };

	ASSERT(o);
	CHECK(overflow_push(o, 7, &a) == 0);
	CHECK(overflow_push(o, 7, &b) == 0);
	CHECK(overflow_push(o, 7, &c) == -ENOSPC);
	CHECK(overflow_push(o, 8, &c) == 0);
	CHECK(overflow_waiting(o, 7) == 2 && overflow_total(o) == 3);
	CHECK(overflow_peek(o, 7) == &a && overflow_waiting(o, 7) == 2);
	CHECK(overflow_pop(o, 7) == &a);
	CHECK(overflow_peek(o, 7) == &b);
	CHECK(overflow_peek(o, 9) == NULL);
	CHECK(overflow_remove(o, 8, &c));
	CHECK(!overflow_remove(o, 8, &c));
	CHECK(overflow_pop(o, 7) == &b);
	CHECK(overflow_pop(o, 7) == NULL);
	CHECK(overflow_total(o) == 0);
	overflow_free(o);
}

static void test_remove_middle(void)
{
	struct overflow *o = overflow_new(10);
	struct invocation a = { 0 }, b = { 0 }, c = { 0 };

	ASSERT(o);
	overflow_push(o, 1, &a);
	overflow_push(o, 1, &b);
	overflow_push(o, 1, &c);
	CHECK(overflow_remove(o, 1, &c));
	CHECK(overflow_push(o, 1, &c) == 0); /* the tail was fixed up */
	CHECK(overflow_pop(o, 1) == &a && overflow_pop(o, 1) == &b && overflow_pop(o, 1) == &c);
	overflow_free(o);
}

int main(void)
{
	RUN(test_order_and_bound);
	RUN(test_remove_middle);
	TEST_EXIT();
}
