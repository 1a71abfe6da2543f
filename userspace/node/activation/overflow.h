/* SPDX-License-Identifier: Apache-2.0 */
/* Per-action queues of activations waiting for a sandbox (a worker's own; bounded). */
#ifndef XWHISK_OVERFLOW_H
#define XWHISK_OVERFLOW_H

#include <stdbool.h>
#include <stdint.h>

struct invocation;
struct overflow;

struct overflow *overflow_new(unsigned max_per_action);
void overflow_free(struct overflow *o);
/* -ENOSPC when the action's queue is full. */
int overflow_push(struct overflow *o, uint64_t action_id, struct invocation *inv);
/* The action's first waiting activation, left in the queue (NULL: none). */
struct invocation *overflow_peek(struct overflow *o, uint64_t action_id);
struct invocation *overflow_pop(struct overflow *o, uint64_t action_id);
/* Takes inv out wherever it waits; false if it was not queued. */
bool overflow_remove(struct overflow *o, uint64_t action_id, struct invocation *inv);
unsigned overflow_waiting(struct overflow *o, uint64_t action_id);
/* Activations waiting, all actions together; any thread may read it. */
unsigned overflow_total(struct overflow *o);

#endif
