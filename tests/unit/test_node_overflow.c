// SPDX-License-Identifier: Apache-2.0
/* Per-action overflow queues: order, bounds, removal. */
#include <errno.h>

#include "node/activation/invocation.h"
#include "node/activation/overflow.h"
#include "node/activation/wait_board.h"
#include "node/node.h"
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

/* The wait board: counts per action across workers, the oldest worker's first, gone
 * once none waits. */
static void test_wait_board(void)
{
	struct wait_board *b = wait_board_new();

	ASSERT(b);
	CHECK(!wait_board_any(b) && wait_board_oldest(b, 5) == -1);
	CHECK(wait_board_note(b, 5, 0, +1, 200) == 0);
	CHECK(wait_board_note(b, 5, 1, +1, 100) == 0);
	CHECK(wait_board_note(b, 6, 1, +1, 50) == 0);
	CHECK(wait_board_any(b) && wait_board_count(b, 5) == 2 && wait_board_count(b, 6) == 1);
	CHECK(wait_board_oldest(b, 5) == 1 && wait_board_oldest(b, 6) == 1);
	CHECK(wait_board_note(b, 5, 1, -1, 0) == 0); /* worker 1's one left */
	CHECK(wait_board_oldest(b, 5) == 0 && wait_board_count(b, 5) == 1);
	CHECK(wait_board_note(b, 5, 0, -1, 0) == 0 && wait_board_count(b, 5) == 0);
	CHECK(wait_board_oldest(b, 5) == -1);
	/* Never below zero: an unknown action's decrease is nothing. */
	CHECK(wait_board_note(b, 9, 0, -1, 0) == 0 && wait_board_count(b, 9) == 0);
	CHECK(wait_board_note(b, 6, 1, -1, 0) == 0 && !wait_board_any(b));
	CHECK(wait_board_note(b, 6, NODE_MAX_WORKERS, +1, 1) == -EINVAL);
	wait_board_free(b);
}

int main(void)
{
	RUN(test_order_and_bound);
	RUN(test_remove_middle);
	RUN(test_wait_board);
	TEST_EXIT();
}
