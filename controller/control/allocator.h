/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The allocator: where a new sandbox goes. One decision at a time (the controller's loop
 * is single-threaded). Best fit over memory and CPU (and GPUs where asked), preferring
 * the node that asked (locality) and nodes holding a stem cell of the kind (a cold start
 * is then only /init). It answers at once: the chosen node hears of the allocation on the
 * event stream and starts the sandbox; the allocator never waits on a node.
 */
#ifndef XWHISK_ALLOCATOR_H
#define XWHISK_ALLOCATOR_H

#include <jansson.h>

#include "cluster.h"

struct alloc_request {
	char subject[257];
	char docid[800];
	char action_id[17];
	char kind[128];
	int64_t revision;
	uint32_t memory_mb, cpu_milli, gpus, concurrency;
	uint16_t prefer_node;
};

/* Parses {subject, docid, action_id, kind, revision, memory_mb, concurrency[, cpu_milli,
 * gpus, node]}; NULL or a message. */
int alloc_request_parse(struct cluster *c, const json_t *body, struct alloc_request *req,
			const char **why);
/* 0 and the new sandbox (starting), or -ENOSPC when nothing fits even after reclaiming
 * idle and marked sandboxes with the GC policy (the asking node waits and asks again), -EAGAIN on a standby controller. */
int allocate(struct cluster *c, const struct alloc_request *req, struct gsandbox **out);

#endif
