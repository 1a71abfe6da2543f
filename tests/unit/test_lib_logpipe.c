// SPDX-License-Identifier: Apache-2.0
/* Log pipes: lines cut at newlines, long lines in LOGPIPE_MAX_LINE pieces, sentinels. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logpipe.h"
#include "test.h"

static struct loop *loop;
static size_t got_len[16];
static bool got_sentinel[16];
static int ngot;

static void on_line(void *owner, int stream, const char *line, size_t len, uint64_t ts,
		   bool sentinel)
{
	if (ngot < 16) {
		got_len[ngot] = len;
		got_sentinel[ngot] = sentinel;
	}
	ngot++;
}

static void stop(struct loop *l, void *data)
{
	loop_stop(l);
}

/* Lets the pipe's reader take what was written (one read per readiness). */
static void settle(void)
{
	loop_timer_add(loop, 20, stop, NULL);
	loop_run(loop);
}

static void write_n(int fd, char c, size_t n)
{
	char *s = malloc(n);

	memset(s, c, n);
	CHECK(write(fd, s, n) == (ssize_t)n);
	free(s);
}

static void test_lines_pieces_and_sentinels(void)
{
	struct logpipe lp;
	int p[2];

	ASSERT(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
	ASSERT(logpipe_open(&lp, loop, p[0], 1, on_line, NULL) == 0);
	ngot = 0;
	CHECK(write(p[1], "one\ntwo\n" ACTIVATION_SENTINEL "\n", 9 + strlen(ACTIVATION_SENTINEL)) > 0);
	settle();
	CHECK(ngot == 3 && got_len[0] == 3 && got_len[1] == 3 && got_sentinel[2] && !got_sentinel[0]);
	/* A long line comes in pieces of the cap, then the rest. */
	ngot = 0;
	write_n(p[1], 'y', LOGPIPE_MAX_LINE + 100);
	CHECK(write(p[1], "\n", 1) == 1);
	settle();
	CHECK(ngot == 2 && got_len[0] == LOGPIPE_MAX_LINE && got_len[1] == 100);
	/* Cut exactly at the cap, its newline in a later read: no empty line after it. */
	ngot = 0;
	write_n(p[1], 'z', LOGPIPE_MAX_LINE);
	settle();
	CHECK(ngot == 1 && got_len[0] == LOGPIPE_MAX_LINE);
	CHECK(write(p[1], "\nafter\n", 7) == 7);
	settle();
	CHECK(ngot == 2 && got_len[1] == 5);
	/* An empty line of its own is still one. */
	ngot = 0;
	CHECK(write(p[1], "\n", 1) == 1);
	settle();
	CHECK(ngot == 1 && got_len[0] == 0);
	logpipe_close(&lp);
	close(p[1]);
}

int main(void)
{
	loop = loop_new();
	if (!loop) {
		printf("not ok - loop\n");
		return 1;
	}
	RUN(test_lines_pieces_and_sentinels);
	loop_free(loop);
	TEST_EXIT();
}
