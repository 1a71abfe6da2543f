// SPDX-License-Identifier: Apache-2.0
/*
 * ballast: CPU work in bursts beside a benchmark, as a co-located record store does it:
 * every PERIOD_US it spends BURST_US of CPU time (its own thread's clock, so that being
 * preempted does not shorten a burst), then sleeps until the next period. colocated.sh
 * sets the bursts from what the controller was measured to spend storing records.
 *
 * usage: ballast BURST_US PERIOD_US     runs until killed
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>

/* A whole decimal number, or 0. */
static uint64_t number(const char *s)
{
	char *end;
	uint64_t v;

	errno = 0;
	v = strtoull(s, &end, 10);
	return errno || end == s || *end ? 0 : v;
}

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	volatile uint64_t sink = 1;
	uint64_t burst, period, next;
	pid_t parent = getppid();

	if (argc != 3 || (burst = number(argv[1])) == 0 || (period = number(argv[2])) <= burst) {
		fprintf(stderr, "usage: ballast BURST_US PERIOD_US (PERIOD_US > BURST_US > 0)\n");
		return 2;
	}
	/* A script stopped on an error or a signal must not leave it burning. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		return 1;
	next = clock_us(CLOCK_MONOTONIC);
	for (;;) {
		uint64_t until = clock_us(CLOCK_THREAD_CPUTIME_ID) + burst;
		struct timespec ts;

		while (clock_us(CLOCK_THREAD_CPUTIME_ID) < until)
			for (int i = 0; i < 1000; i++)
				sink = sink * 6364136223846793005ull + 1442695040888963407ull;
		next += period;
		/* behind by more than a period (preempted): start afresh rather than catch up */
		if (next + period < clock_us(CLOCK_MONOTONIC))
			next = clock_us(CLOCK_MONOTONIC);
		ts.tv_sec = (time_t)(next / 1000000);
		ts.tv_nsec = (long)(next % 1000000) * 1000;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
}
