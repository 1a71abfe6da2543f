/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who waits for which action, across the workers. Each worker queues its own activations
 * (overflow.h); the board says, per action id, how many wait on all workers together and
 * since when each worker's first has, so that a sandbox's freed room goes to the activation
 * that has waited longest, wherever it waits (invocation.c, "one queue"), and the manager
 * sizes a cold start by what really waits. Keyed by action id, not by cache entry: calls
 * through a package binding and direct ones are two entries of one action.
 */
#ifndef XWHISK_WAIT_BOARD_H
#define XWHISK_WAIT_BOARD_H

#include <stdbool.h>
#include <stdint.h>

struct wait_board;

struct wait_board *wait_board_new(void);
void wait_board_free(struct wait_board *b);
/* Worker's queue of action_id changed by delta (+1 one more waits, -1 one fewer); the
 * first one there now was queued at oldest_us (monotonic; 0: none waits there). -ENOMEM
 * when it cannot be noted (the activation then waits unseen by other workers: its need
 * timer still asks for a sandbox). */
int wait_board_note(struct wait_board *b, uint64_t action_id, unsigned worker, int delta,
		    uint64_t oldest_us);
/* Whether any activation of any action waits: one atomic load, ordered after what the
 * caller did before (sequentially consistent), for the release path's common case. */
bool wait_board_any(struct wait_board *b);
/* How many activations of action_id wait, all workers together. */
unsigned wait_board_count(struct wait_board *b, uint64_t action_id);
/* The worker whose waiting activation of action_id came first; -1 when none waits. */
int wait_board_oldest(struct wait_board *b, uint64_t action_id);

#endif
