// SPDX-License-Identifier: Apache-2.0
/* What an action's runs and starts take, and the queue-or-start rule they feed. */
#include "node/activation/action_cache.h"
#include "node/activation/run_times.h"
#include "test.h"

/* A sandbox's first run stands in until a warm one replaces it, and never weighs in the
 * average (before: averaged in, a Node.js no-op's 5 ms first run kept the estimate near
 * 4 ms, and a burst of 16 started 15 sandboxes). */
static void test_first_run_stands_in(void)
{
	struct action_entry a = { 0 };

	run_times_run(&a, true, 5000);
	CHECK(a.run_us == 5000);
	run_times_run(&a, false, 300);
	CHECK(a.run_us == 300);
	run_times_run(&a, false, 380);
	CHECK(a.run_us == (300 * 7 + 380) / 8);
	/* Another sandbox's first run: the warm average stays. */
	run_times_run(&a, true, 9000);
	CHECK(a.run_us == (300 * 7 + 380) / 8);
}

/* A run of 0 us is still a known time (0 means none). */
static void test_zero_is_known(void)
{
	struct action_entry a = { 0 };

	run_times_run(&a, false, 0);
	CHECK(a.run_us == 1);
}

static void test_starts_needed(void)
{
	struct action_entry a = { 0 };

	/* Nothing measured: every waiting activation needs a start. */
	CHECK(run_times_starts_needed(&a, 1, 8, 8) == 8);
	CHECK(run_times_cold_us(&a) == RUN_TIMES_COLD_GUESS_US);
	run_times_start(&a, 20000);
	CHECK(run_times_cold_us(&a) == 20000);
	/* Runs of 1 ms: one sandbox serves 20 within a start. */
	run_times_run(&a, false, 1000);
	CHECK(run_times_starts_needed(&a, 1, 8, 16) == 0);
	CHECK(run_times_starts_needed(&a, 1, 15, 30) == 5);  /* half of the 10 short */
	CHECK(run_times_starts_needed(&a, 1, 15, 15) == 0);
	CHECK(run_times_starts_needed(&a, 0, 3, 3) == 3);
	CHECK(run_times_starts_needed(&a, 1, 25, 10) == 5);  /* the board lags: 25 wait here */
	CHECK(run_times_starts_needed(&a, 1, 1, 25) == 1);   /* a share rounds up */
	CHECK(run_times_starts_needed(&a, 0, 0, 0) == 0);    /* nothing waits here */
	CHECK(run_times_starts_needed(&a, 0, 0, 9) == 0);
}

/* One worker holds the whole queue (its clients came first): the room serves it whole.
 * Before, each worker counted half the room and asked for twice the starts: a 16-client
 * no-op burst on two CPUs started 15 sandboxes one run in two (docs/BENCHMARKS.md). */
static void test_one_worker_holds_the_queue(void)
{
	struct action_entry a = { .cold_us = 27000 };

	run_times_run(&a, false, 3375); /* 8 served within a start */
	CHECK(run_times_starts_needed(&a, 1, 12, 12) == 4);
	CHECK(run_times_starts_needed(&a, 2, 12, 12) == 0);
}

/* The first run alone (5 ms) would say 4 are served per start: 11 starts; it asks one.
 * The warm run replacing it says 20: none. */
static void test_burst_after_first_run(void)
{
	struct action_entry a = { .cold_us = 20000 };

	run_times_run(&a, true, 5000);
	CHECK(run_times_starts_needed(&a, 1, 15, 15) == 1);
	CHECK(run_times_starts_needed(&a, 1, 4, 4) == 0);
	run_times_run(&a, false, 1000);
	CHECK(run_times_starts_needed(&a, 1, 15, 15) == 0);
}

int main(void)
{
	RUN(test_first_run_stands_in);
	RUN(test_zero_is_known);
	RUN(test_starts_needed);
	RUN(test_one_worker_holds_the_queue);
	RUN(test_burst_after_first_run);
	TEST_EXIT();
}
