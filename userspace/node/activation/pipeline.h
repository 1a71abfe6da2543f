/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The activation pipeline: the one way an activation starts on this node, whichever way it
 * came in (an invoke, a web action, a trigger's rule, a sequence's next step), as redis runs
 * every command through one call(). It owns the namespace's throttle unit from admission to
 * the activation's end, merges parameters, runs a primitive (invocation.c) or a sequence
 * (sequence.c), writes the acceptance marker when nobody waits for the end, and tells the
 * listener once. The ingress adapters only parse and reply.
 *
 *   act = activation_admit(w, who, counted, &why);      the throttle unit, or 429
 *   ... resolve the action ...
 *   activation_start(act, &spec, id, &why);            or activation_abandon(act)
 */
#ifndef XWHISK_PIPELINE_H
#define XWHISK_PIPELINE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#include "node/activation/action_cache.h"
#include "node/activation/invocation.h"
#include "node/activation/record.h"
#include "node/ingress/identity.h"

struct worker;
struct activation;

/* How the request's parameters become the /run value. */
enum activation_params {
	PARAMS_MERGE,        /* over the action's parameters */
	PARAMS_MERGE_STRICT, /* the same, refusing to override a final parameter (-EPERM) */
	PARAMS_AS_IS,        /* already the /run value (web actions, a sequence's array) */
};

/* How long the listener waits for the record. */
#define ACTIVATION_NO_WAIT 0          /* not at all: accepted at once (202) */
#define ACTIVATION_WAIT_END UINT_MAX  /* until the end (a sequence's step) */

/* record: the finished activation's record, borrowed for the call (record_result and
 * record_tree parse what a listener needs of it); or NULL: the wait ran
 * out, the activation goes on without a listener and its acceptance marker is written. */
typedef void (*activation_listener)(struct record *record, void *data);

struct activation_spec {
	struct action_entry *action;  /* a reference is taken */
	const char *tid;
	json_t *params;               /* stolen; NULL: none */
	enum activation_params params_mode;
	const char *cause;            /* the enclosing sequence's activation id, or NULL */
	unsigned *atomic;             /* a sequence's step: the primitives its run has started */
	unsigned wait_ms;             /* ACTIVATION_NO_WAIT, a blocking wait, or _WAIT_END */
	/* The response cache (result_cache.h), for a primitive action: */
	bool cache_read;              /* answer from it when it holds these parameters' result */
	bool cache_store;             /* keep the result when the action asks (__ow_cache) */
	const json_t *cached;         /* an answer the adapter found in it, {"statusCode",
				       * "result"}: the activation is answered with it, no run */
	activation_listener listener; /* not called before activation_start returns */
	void *data;
	/* A session instead of POST /run (a streaming web action, a WebSocket): called once
	 * the activation holds room in a sandbox; the session ends the activation with
	 * invocation_session_end() and the listener hears the record as usual. The throttle
	 * unit and the slot are held until then. NULL: an ordinary /run. Primitives only. */
	invocation_session session;
	void *session_data;
};

/* Why an activation was refused: an HTTP status and OpenWhisk's message. */
struct activation_refusal {
	int status;
	unsigned retry_after_s; /* with a 429 */
	char message[192];
};

/* Admits an activation for who: counted, it takes a unit of the namespace's concurrent
 * and per-minute budget (a sequence's steps run on their sequence's unit). NULL with why
 * filled when refused. */
struct activation *activation_admit(struct worker *w, const struct identity *who, bool counted,
				    struct activation_refusal *why);
/* Starts act, or answers it from the response cache (a record annotated cached, the
 * listener told on the loop's next turn). 0 with the activation id in id; or a negative
 * errno, why filled, nothing started nor recorded, the listener never called (-EPERM: a
 * final parameter overridden, -ENOSPC: the action's queue is full, -E2BIG: too many
 * actions in the sequence, -ENOMEM). act is consumed either way. */
int activation_start(struct activation *act, const struct activation_spec *spec, char id[33],
		     struct activation_refusal *why);
/* An admitted activation that will not start gives its unit back. */
void activation_abandon(struct activation *act);

/* base's parameters overridden by request's into *out; false when final_params refuses an
 * override (nothing allocated). */
bool merge_parameters(const json_t *base, const json_t *request, bool final_params,
		      json_t **out);

#endif
