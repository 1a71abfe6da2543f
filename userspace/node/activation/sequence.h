/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sequences, run by the router as OpenWhisk's controller runs them: components one after
 * another, each result passed on, stopping at the first result with an "error" key; the
 * sequence's own record lists the component activations and sums their durations.
 */
#ifndef XWHISK_SEQUENCE_H
#define XWHISK_SEQUENCE_H

#include <jansson.h>
#include <stdbool.h>

#include "node/activation/action_cache.h"
#include "node/activation/record.h"
#include "node/ingress/identity.h"

struct worker;
struct sequence_run;

/* record: the sequence's stored record, borrowed for the call. */
typedef void (*sequence_done)(struct record *record, void *data);

/* Starts sequence (a reference is taken) with params (stolen); the activation pipeline's
 * job (pipeline.h). cause: the enclosing sequence's activation id for a nested one, else
 * NULL; atomic: the enclosing run's count of started primitives, else NULL (a new count).
 * NULL when it could not start. done never runs before this returns. */
struct sequence_run *sequence_start(struct worker *w, struct action_entry *sequence,
				    const struct identity *who, json_t *params, const char *tid,
				    const char *cause, unsigned *atomic, sequence_done done,
				    void *data);
const char *sequence_activation_id(const struct sequence_run *run);

#endif
