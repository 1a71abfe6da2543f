/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal unit-test harness: each test is a function; CHECK records a failure and
 * carries on, ASSERT records it and leaves the test. Prints "ok - name" or
 * "not ok - name: file:line: expression" per test, as tests/run.sh expects.
 * XWHISK_TEST_ONLY=regex runs only the tests whose names match it (by hand, while debugging;
 * the e2e harness reads the same variable).
 */
#ifndef XWHISK_TEST_H
#define XWHISK_TEST_H

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failed_cases;
static int test_cur_failed;
static char test_cur_why[512];

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			if (!test_cur_failed)                                                      \
				snprintf(test_cur_why, sizeof(test_cur_why), "%s:%d: %s",          \
					 __FILE__, __LINE__, #cond);                               \
			fprintf(stderr, "  check failed %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
			test_cur_failed = 1;                                                       \
		}                                                                                  \
	} while (0)

#define ASSERT(cond)                                                                               \
	do {                                                                                       \
		CHECK(cond);                                                                       \
		if (test_cur_failed)                                                               \
			return;                                                                    \
	} while (0)

static inline int test_skipped(const char *name)
{
	const char *only = getenv("XWHISK_TEST_ONLY");
	regex_t re;
	int skip;

	if (!only || regcomp(&re, only, REG_EXTENDED | REG_NOSUB))
		return 0;
	skip = regexec(&re, name, 0, NULL, 0) != 0;
	regfree(&re);
	return skip;
}

static inline int test_streq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

#define CHECK_STR(a, b) CHECK(test_streq((a), (b)))

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		if (test_skipped(#fn))                                                             \
			break;                                                                     \
		test_cur_failed = 0;                                                               \
		test_cur_why[0] = '\0';                                                            \
		fn();                                                                              \
		if (test_cur_failed) {                                                             \
			test_failed_cases++;                                                       \
			printf("not ok - %s: %s\n", #fn, test_cur_why);                            \
		} else {                                                                           \
			printf("ok - %s\n", #fn);                                                  \
		}                                                                                  \
		fflush(stdout);                                                                    \
	} while (0)

#define TEST_EXIT() return test_failed_cases ? 1 : 0

/* The output of a shell command (at most 64 KB, in a buffer the next call reuses), or NULL. */
static inline const char *test_run_cmd(const char *cmd)
{
	static char out[1 << 16];
	FILE *p = popen(cmd, "r");
	size_t n;

	if (!p)
		return NULL;
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	return out;
}

#endif
