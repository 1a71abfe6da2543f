/* SPDX-License-Identifier: Apache-2.0 */
/* A router thread: its own event loop, its own listener on the ingress port
 * (SO_REUSEPORT), its own connections to sandboxes and to the controller. */
#ifndef XWHISK_WORKER_H
#define XWHISK_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "node/ctlclient.h"
#include "node/ingress/identity.h"
#include "node/crossing.h"
#include "node/ingress/forward.h"
#include "http.h"
#include "mailbox.h"
#include "node/node.h"
#include "node/activation/overflow.h"
#include "node/activation/record.h"
#include "node/activation/spool.h"

struct worker_stats {
	uint64_t invocations;
	uint64_t cold_starts;
	uint64_t inband_logs;     /* activations whose logs came in their /run answer */
	uint64_t sock_msg_add_failures; /* pooled connections msg_socks refused (they keep TCP) */
	uint64_t throttled;
	uint64_t queue_full;
	uint64_t errors[4];       /* by activation status */
	uint64_t latency_hist[16]; /* le 1,2,5,10,25,50,100,250,500,1000,2500,5000,10000,+Inf ms */
	uint64_t latency_sum_us;
};

struct worker {
	struct node *node;
	unsigned id;
	pthread_t thread;
	struct loop *loop;
	struct mailbox *mailbox;
	struct http_server *http;
	struct http_server *http_sandboxes; /* on the bridge, when the ingress is on loopback */
	struct ctlclient *ctl;
	struct forwarder *fw;
	struct overflow *waiting;
	struct warm_cache *warm;  /* its copy of the "warm" map */
	struct identity_cache *ids; /* its copy of the "auth" map */
	struct abuse *abuse;        /* clients refused again and again */
	struct spool_writer *spool;
	bool records_added;       /* since the last flush: the shipper is nudged after it */
	struct http_pool *sandbox[XW_MAX_SLOTS]; /* keep-alive connections per sandbox */
	uint32_t sandbox_gen[XW_MAX_SLOTS];
	struct worker_stats stats;
	unsigned activations; /* admitted and not ended (atomic: the manager reads it) */
	bool draining;        /* stopping: no new requests, the admitted ones finish */
	/* A request's JSON that lives no longer than the call writing it (a /run body):
	 * reset before each use, its memory kept. */
	struct buf scratch;
};

int worker_start(struct node *node, unsigned id, struct worker **out);
void worker_stop(struct worker *w);
/* Stops taking requests (listeners closed, later requests 503); what runs, runs on. */
void worker_drain(struct worker *w);
/* Activations admitted on w and not ended; any thread. */
unsigned worker_activations(const struct worker *w);

/* Before answering 202 early: the record to keep if the node stops first (NULL: none could
 * be written, which is logged). */
void worker_accept(struct worker *w, const char *activation_id, const struct record *fallback);
/* Adds a finished activation's record to the spool's batch; worker_end_turn writes it. */
void worker_spool(struct worker *w, const struct record *record);
/* The end of a loop turn (the loop's before-sleep hook): the turn's records go to the
 * spool in one write and the shipper is nudged; then, and only then, the turn's answers
 * leave (the HTTP servers defer their writes to this). */
void worker_end_turn(struct worker *w);
/* The connections to the sandbox in slot, opened for its current generation. */
struct http_pool *worker_sandbox_pool(struct worker *w, uint32_t slot);


#endif
