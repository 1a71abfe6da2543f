/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OpenWhisk's reading of a sandbox's /run answer (ContainerProxy, ActivationResult): the
 * activation's status and result. Needs no worker: the fuzz targets run_answer feed it.
 */
#ifndef XWHISK_RUN_ANSWER_H
#define XWHISK_RUN_ANSWER_H

#include <stddef.h>

#include "node/activation/invocation.h"

/* Results larger than this are truncated (OpenWhisk's whisk.activation.truncation). */
#define RESULT_MAX (1u << 20)

/* Sets inv's status, result (or answer: a result kept as its text) and result_size from
 * an answer of len bytes with HTTP status (len may be more than body holds past
 * RESULT_MAX: only that much is read). */
void invocation_take_answer(struct invocation *inv, int status, const char *body, size_t len);

#endif
