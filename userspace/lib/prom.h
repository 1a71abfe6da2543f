/* SPDX-License-Identifier: Apache-2.0 */
/* Prometheus text exposition (version 0.0.4), for the node's and the controller's
 * /metrics: a family's HELP and TYPE lines, then its samples. */
#ifndef XWHISK_PROM_H
#define XWHISK_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4"

/* The HELP and TYPE lines; labelled samples follow with buf_printf. */
void prom_family(struct buf *b, const char *name, const char *type, const char *help);
/* A family of one unlabelled sample. */
void prom_value(struct buf *b, const char *name, const char *type, const char *help,
		uint64_t value);
/* A histogram from per-bucket (not cumulative) counts; bounds are the "le" labels, the
 * last "+Inf". */
void prom_histogram(struct buf *b, const char *name, const char *help,
		    const char *const *bounds, const uint64_t *counts, size_t n, double sum);

#endif
