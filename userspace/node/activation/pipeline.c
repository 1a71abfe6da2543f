// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/activation/invocation.h"
#include "node/activation/pipeline.h"
#include "node/activation/record.h"
#include "node/activation/sequence.h"
#include "node/activation/throttle.h"
#include "node/ingress/metrics.h"
#include "node/ingress/worker.h"
#include "util.h"

/* OpenWhisk's limits.sequenceMaxLength, counted over nested sequences at run time. */
#define SEQUENCE_LENGTH_MAX 50

/* One activation from admission to its end: it holds the throttle unit that long, whoever
 * still listens. */
struct activation {
	struct worker *w;
	struct identity who;
	bool holds_unit;
	bool is_sequence;
	char id[33];
	struct action_entry *action;
	struct loop_timer *wait;
	activation_listener listener;
	void *data;
};

static void refuse(struct activation_refusal *why, int status, unsigned retry_after_s,
		   const char *message)
{
	why->status = status;
	why->retry_after_s = retry_after_s;
	snprintf(why->message, sizeof(why->message), "%s", message);
}

static struct xw_namespace *ns_of(const struct activation *act)
{
	return &act->w->node->maps->namespaces[act->who.ns_idx];
}

struct activation *activation_admit(struct worker *w, const struct identity *who, bool counted,
				    struct activation_refusal *why)
{
	struct activation *act = calloc(1, sizeof(*act));
	struct throttle_result t;

	if (!act) {
		refuse(why, 503, 0, "The node is out of memory.");
		return NULL;
	}
	act->w = w;
	act->who = *who;
	if (!counted)
		return act;
	t = throttle_invoke(ns_of(act), clock_real_ms());
	if (t.verdict != THROTTLE_OK) {
		STAT_INC(w, throttled);
		throttle_message(&t, why->message, sizeof(why->message));
		why->status = 429;
		why->retry_after_s = t.retry_after_s;
		free(act);
		return NULL;
	}
	act->holds_unit = true;
	return act;
}

static void activation_free(struct activation *act)
{
	if (act->holds_unit)
		throttle_release(ns_of(act));
	if (act->wait)
		loop_timer_cancel(act->w->loop, act->wait);
	action_entry_unref(act->action);
	free(act);
}

void activation_abandon(struct activation *act)
{
	if (act)
		activation_free(act);
}

/* The end, for a primitive or a sequence: the record is spooled already. */
static void activation_ended(struct activation *act, const json_t *record)
{
	activation_listener listener = act->listener;

	act->listener = NULL;
	if (listener)
		listener(record, act->data);
	activation_free(act);
}

static void on_primitive_done(struct invocation *inv, void *data)
{
	activation_ended(data, inv->record);
}

static void on_sequence_done(const json_t *record, void *data)
{
	activation_ended(data, record);
}

/* What the record says if the node stops before the activation ends. */
static void write_acceptance(struct activation *act)
{
	worker_accept(act->w, act->id,
		      record_interrupted(act->action, &act->who, act->id, clock_real_ms(),
					 act->is_sequence ? "sequence" : NULL));
}

/* The listener's wait ran out: it hears "accepted", the activation goes on. */
static void on_wait_over(struct loop *loop, void *data)
{
	struct activation *act = data;
	activation_listener listener = act->listener;

	act->wait = NULL;
	act->listener = NULL;
	write_acceptance(act);
	if (listener)
		listener(NULL, act->data);
}

bool merge_parameters(const json_t *base, const json_t *request, bool final_params,
		      json_t **out)
{
	json_t *merged = base ? json_copy((json_t *)base) : json_object(), *v;
	const char *key;

	json_object_foreach((json_t *)request, key, v) {
		if (final_params && json_object_get(base, key)) {
			json_decref(merged);
			return false;
		}
		json_object_set(merged, key, v);
	}
	*out = merged;
	return true;
}

/* The /run value (or a sequence's first input) from the spec; NULL when refused. */
static json_t *run_params(const struct activation_spec *spec, struct activation_refusal *why)
{
	const struct action_entry *a = spec->action;
	json_t *params = spec->params ? spec->params : json_object(), *merged = NULL;
	bool strict = spec->params_mode == PARAMS_MERGE_STRICT;

	if (spec->params_mode == PARAMS_AS_IS || json_is_array(params))
		return params;
	if (!merge_parameters(a->run_params, params, strict && a->final_params, &merged))
		refuse(why, 400, 0,
		       "Request defines parameters that are not allowed (e.g., reserved properties).");
	json_decref(params);
	return merged;
}

static int start_sequence(struct activation *act, const struct activation_spec *spec,
			  json_t *params, struct activation_refusal *why)
{
	struct sequence_run *run;

	act->is_sequence = true;
	run = sequence_start(act->w, spec->action, &act->who, params, spec->tid, spec->cause,
			     spec->atomic, on_sequence_done, act);
	if (!run) {
		refuse(why, 500, 0, "The sequence could not be started.");
		return -ENOMEM;
	}
	snprintf(act->id, sizeof(act->id), "%s", sequence_activation_id(run));
	return 0;
}

static int start_primitive(struct activation *act, const struct activation_spec *spec,
			   json_t *params, struct activation_refusal *why)
{
	struct invocation *inv;

	if (spec->atomic && ++*spec->atomic > SEQUENCE_LENGTH_MAX) {
		json_decref(params);
		refuse(why, 400, 0, "Too many actions in the sequence.");
		return -E2BIG;
	}
	inv = invocation_new(act->w, spec->action, &act->who, params, spec->tid);
	if (!inv) {
		refuse(why, 500, 0, "Internal Server Error");
		return -ENOMEM;
	}
	if (spec->cause) {
		inv->sequence_component = true;
		snprintf(inv->cause, sizeof(inv->cause), "%s", spec->cause);
	}
	inv->done = on_primitive_done;
	inv->done_data = act;
	inv->session = spec->session;
	inv->session_data = spec->session_data;
	if (invocation_start(inv)) {
		invocation_free(inv);
		STAT_INC(act->w, queue_full);
		refuse(why, 429, 1, "Too many requests are waiting for this action; try again later.");
		return -ENOSPC;
	}
	snprintf(act->id, sizeof(act->id), "%s", inv->activation_id);
	return 0;
}

int activation_start(struct activation *act, const struct activation_spec *spec, char id[33],
		     struct activation_refusal *why)
{
	json_t *params = run_params(spec, why);
	int err;

	if (!params) {
		activation_free(act);
		return -EPERM;
	}
	action_entry_ref(spec->action);
	act->action = spec->action;
	act->listener = spec->wait_ms == ACTIVATION_NO_WAIT ? NULL : spec->listener;
	act->data = spec->data;
	err = spec->action->xkind == XW_KIND_SEQUENCE ? start_sequence(act, spec, params, why)
						      : start_primitive(act, spec, params, why);
	if (err) {
		activation_free(act);
		return err;
	}
	/* From here on act lives until the activation ends, listener or not. */
	snprintf(id, 33, "%s", act->id);
	if (spec->wait_ms == ACTIVATION_NO_WAIT)
		write_acceptance(act);
	else if (spec->wait_ms != ACTIVATION_WAIT_END)
		act->wait = loop_timer_add(act->w->loop, spec->wait_ms, on_wait_over, act);
	return 0;
}
