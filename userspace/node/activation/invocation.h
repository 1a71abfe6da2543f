/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One activation of a primitive action on this node: claim a warm sandbox (or wait in the
 * action's overflow queue for a cold start), POST /run, turn the answer into an OpenWhisk
 * activation record, spool the record, then tell whoever waits (an HTTP request, a
 * sequence, a trigger) through the done callback.
 */
#ifndef XWHISK_INVOCATION_H
#define XWHISK_INVOCATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "node/activation/action_cache.h"
#include "activation.h"
#include "node/ingress/identity.h"
#include "node/activation/record.h"

struct worker;
struct invocation;

typedef void (*invocation_done)(struct invocation *inv, void *data);
/* A session in place of POST /run (a streaming web action): called on the worker's loop
 * once inv holds room in a sandbox (inv->slot), never before invocation_start returns;
 * the session talks to the sandbox itself and ends with invocation_session_end(). */
typedef void (*invocation_session)(struct invocation *inv, void *data);

struct invocation {
	struct worker *w;
	struct action_entry *action;
	struct identity who;
	char activation_id[33];
	char tid[72];
	char cause[33];        /* the enclosing sequence's activation, or "" */
	json_t *params;        /* the /run value (action parameters merged with the request's) */
	uint64_t received_ms;  /* wall clock when the request arrived */
	uint64_t start_ms, end_ms;
	size_t result_size;    /* bytes /run answered (the record's response.size), 0: none */
	uint64_t run_sent_ns;  /* wall clock when /run left: older log segments are not ours */
	uint64_t init_ms;      /* /init's duration when this activation waited for a cold start */
	bool cold;
	bool timed_out;
	bool no_answer;        /* the sandbox went without answering /run */
	int status;            /* enum activation_status */
	json_t *result;
	/* Without a result: what /run answered, kept as its text (run_answer.h). */
	struct buf answer;
	json_t *logs;
	struct record record;  /* the stored form, once finished */
	unsigned cache_ttl_s;  /* a success's __ow_cache ttl (taken out of result), or 0 */

	invocation_done done;
	void *done_data;
	invocation_session session; /* NULL: POST /run */
	void *session_data;

	/* private */
	uint32_t slot, slot_generation;
	unsigned busy_retries;
	struct http_call *call;
	struct loop_timer *wait_timer;
	struct loop_timer *need_timer; /* queued without a cold start: when to ask anyway */
	uint64_t queued_us;            /* monotonic, when it was queued */
	struct invocation *next; /* in an overflow queue */
};

/* A new invocation holding a reference to action; params is stolen. */
struct invocation *invocation_new(struct worker *w, struct action_entry *action,
				  const struct identity *who, json_t *params, const char *tid);
/* Starts it (the activation pipeline's job: see pipeline.h). -ENOSPC: the action's queue
 * is full; nothing started, the caller frees inv. done never runs before this returns. */
int invocation_start(struct invocation *inv);
void invocation_free(struct invocation *inv);
/* A sandbox of the action has room again for one activation: the one that has waited
 * longest takes it, on w or (through its mailbox) on the worker where it waits. */
void invocation_give_room(struct worker *w, uint64_t action_id);
/* The same, run on worker to's loop: any thread (the manager's, when warm room is left
 * while activations wait: a wake-up lost on the way is not a wait until the limit). */
void invocation_post_room(struct worker *to, uint64_t action_id);
/* Finishes inv with a platform-made result (whisk errors, refused cold starts...). */
void invocation_fail(struct invocation *inv, int status, const char *message);
/* Ends a session: status (enum activation_status) and result (stolen) go into the record;
 * broken_why non-NULL retires the sandbox (a timeout, a sandbox that broke the stream).
 * The slot is released, the logs collected, the record spooled and done told. */
void invocation_session_end(struct invocation *inv, int status, json_t *result,
			    const char *broken_why);

#endif
