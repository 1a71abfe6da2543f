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
#include "node/ingress/identity.h"

struct worker;
struct sequence_run;

/* record: the sequence's stored record, borrowed for the call. */
typedef void (*sequence_done)(const json_t *record, void *data);

/* Starts sequence (a reference is taken) with params (stolen). cause: the enclosing
 * sequence's activation id for a nested one, else NULL. owns_throttle: as for
 * invocation_start. NULL when it could not start. */
struct sequence_run *sequence_start(struct worker *w, struct action_entry *sequence,
				    const struct identity *who, json_t *params, const char *tid,
				    const char *cause, bool owns_throttle, sequence_done done,
				    void *data);
const char *sequence_activation_id(const struct sequence_run *run);
/* Nobody waits any more; the sequence runs to its end and is recorded. */
void sequence_detach(struct sequence_run *run);

#endif
