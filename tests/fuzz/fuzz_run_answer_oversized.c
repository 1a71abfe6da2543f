// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_run_answer for answers beyond the 1 MB result limit (see there): slow by nature,
 * so kept out of the fast target.
 */
#define RUN_ANSWER_OVERSIZED 1
#include "fuzz_run_answer.c"
