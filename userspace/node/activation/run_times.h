/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What an action's runs and cold starts take, learnt as it runs (any worker, relaxed
 * atomics on its cache entry), and the queue-or-start rule they feed: a waiting
 * activation is served sooner by a busy sandbox freeing up when runs are short, by a new
 * sandbox when they are long or the queue is deep. Neither OpenWhisk nor Knative weighs
 * the two.
 */
#ifndef XWHISK_RUN_TIMES_H
#define XWHISK_RUN_TIMES_H

#include <stdbool.h>
#include <stdint.h>

struct action_entry;

/* What a cold start is taken to cost before one was measured. */
#define RUN_TIMES_COLD_GUESS_US 50000

/* A /run of us microseconds; first: the sandbox's first (it compiles the action as it
 * goes), which stands in only until a warm run replaces it and never weighs in the
 * average. */
void run_times_run(struct action_entry *a, bool first, uint64_t us);
/* A cold start: us from asking for a sandbox to its warm news. */
void run_times_start(struct action_entry *a, uint64_t us);
/* What a cold start takes, measured or guessed. */
uint64_t run_times_cold_us(const struct action_entry *a);
/* How many of a worker's waiting_here activations need a new sandbox: its share (in
 * proportion to how many wait there) of those among waiting_all, every worker's, that the
 * warm room, freeing up every run, would not serve within the time a cold start takes.
 * All of them while no run was measured; one at most while only a first run was. */
unsigned run_times_starts_needed(const struct action_entry *a, uint64_t room,
				 unsigned waiting_here, unsigned waiting_all);

#endif
