/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Activation retention: records older than a period are deleted in bounded batches on a
 * timer of the controller's loop, so no delete holds locks for long and requests are served
 * between batches. The period is XWHISK_ACTIVATION_RETENTION (default: keep everything); a
 * namespace's limit "activationRetentionSeconds" overrides it (0: keep that namespace's).
 */
#ifndef XWHISK_RETENTION_H
#define XWHISK_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "store.h"

/* The namespace limit that overrides the period, in seconds. */
#define RETENTION_LIMIT_KEY "activationRetentionSeconds"
/* Records deleted per statement (one short transaction each). */
#define RETENTION_BATCH 1000

struct retention;

/* An age: "7d", "12h", "30m", "90s", a number of seconds, or "off"/"0" (-> 0). */
int retention_parse_age(const char *text, int64_t *ms);

/* Starts the timer: a pass every period_ms (XWHISK_RETENTION_PERIOD_MS, default a minute),
 * the first a few seconds after the start. NULL without memory. */
struct retention *retention_start(struct loop *loop, struct store *st, int64_t default_ms,
				  unsigned period_ms);
void retention_free(struct retention *r);

/*
 * One step at wall-clock time now_ms: at most one batch for the namespaces without an
 * override and one per namespace with one. *more is set when a batch was full (more to
 * delete at once); *deleted counts the rows that went.
 */
int retention_step(struct store *st, int64_t default_ms, int64_t now_ms, int64_t *deleted,
		   bool *more);

#endif
