/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's shared state, handed to every API handler. */
#ifndef XWHISK_CONTROLLER_H
#define XWHISK_CONTROLLER_H

#include "http.h"
#include "loop.h"
#include "runtimes.h"
#include "store.h"

struct controller_stats {
	uint64_t requests[6];      /* by status class: 1xx..5xx, [0] unused */
	uint64_t latency_hist[12]; /* le 0.5,1,2,5,10,25,50,100,250,500,1000,+Inf ms */
	uint64_t latency_sum_us;
	uint64_t activations_stored;
	uint64_t activations_rejected;
};

struct subnet_plan;
struct ns_budget;

struct controller {
	struct loop *loop;
	struct store *store;
	struct runtimes *runtimes;
	struct http_server *http;
	struct event_log *events;
	struct cluster *cluster;
	const struct subnet_plan *subnets; /* nodes' sandbox blocks (NULL: nodes bring theirs) */
	struct offload *offload; /* long work off the loop (api/offload.h) */
	/* The offload thread's own connection to the store, for the durable write of a large
	 * document (the loop's is ctl->store); NULL: those writes are the loop's. */
	struct store *store_offload;
	struct ns_budget *budget; /* namespace limits leased to nodes */
	char node_token[65]; /* shared secret of the /internal API */
	const char *build;
	struct controller_stats stats;
};

#endif
