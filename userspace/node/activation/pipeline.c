// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/activation/cached_result.h"
#include "json.h"
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
	char id[33];
	struct action_entry *action;
	struct loop_timer *wait;
	activation_listener listener;
	void *data;
	/* The response cache: where a result the action asks to keep goes. */
	bool cache_store;
	bool cache_keyed;            /* cache_key is the digest of these parameters */
	uint8_t cache_key[RESULT_KEY_LEN];
	uint64_t cache_epoch;
	struct record cached_record; /* answered from the cache: told at the end of the turn */
	struct loop_deferred answer;
};

static void refuse(struct activation_refusal *why, int status, unsigned retry_after_s,
		   const char *message)
{
	why->status = status;
	why->retry_after_s = retry_after_s;
	str_copy(why->message, sizeof(why->message), message);
}

static struct xw_namespace *ns_of(const struct activation *act)
{
	return &act->w->node->maps->namespaces[act->who.ns_idx];
}

struct activation *activation_admit(struct worker *w, const struct identity *who, bool counted,
				    struct activation_refusal *why)
{
	struct activation *act = zalloc(sizeof(*act));
	struct throttle_result t;

	if (!act) {
		refuse(why, 503, 0, "The node is out of memory.");
		return NULL;
	}
	act->w = w;
	act->who = *who;
	__atomic_add_fetch(&w->activations, 1, __ATOMIC_RELEASE);
	if (!counted)
		return act;
	t = throttle_invoke(ns_of(act), clock_real_ms());
	if (t.verdict != THROTTLE_OK) {
		STAT_INC(w, throttled);
		throttle_message(&t, why->message, sizeof(why->message));
		why->status = 429;
		why->retry_after_s = t.retry_after_s;
		__atomic_sub_fetch(&w->activations, 1, __ATOMIC_RELEASE);
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
	loop_defer_cancel(act->w->loop, &act->answer);
	record_clear(&act->cached_record);
	action_entry_unref(act->action);
	__atomic_sub_fetch(&act->w->activations, 1, __ATOMIC_RELEASE);
	free(act);
}

void activation_abandon(struct activation *act)
{
	if (act)
		activation_free(act);
}

/* The end, for a primitive or a sequence: the record is spooled already. */
static void activation_ended(struct activation *act, struct record *record)
{
	activation_listener listener = act->listener;

	act->listener = NULL;
	if (listener)
		listener(record, act->data);
	activation_free(act);
}

/* A successful result the action asked to keep (__ow_cache) goes into the cache. */
static void keep_result(struct activation *act, const struct invocation *inv)
{
	struct result_cache *rc = act->w->node->results;
	const struct record *rec = &inv->record;

	if (!act->cache_store || !inv->cache_ttl_s || inv->status != ACTIVATION_SUCCESS ||
	    !rec->result_len)
		return;
	/* The lookup before the run digested the same parameters already, when there was one. */
	if (!act->cache_keyed && cached_result_key(act->action, inv->params, act->cache_key))
		return;
	/* The record holds the result's text already (__ow_cache taken out). */
	if (!result_cache_put(rc, act->cache_key, act->who.ns_idx,
			      json_object_get(act->action->doc, "deps"),
			      rec->text.data + rec->result_off, rec->result_len, clock_real_ms(),
			      (uint64_t)inv->cache_ttl_s * 1000, act->cache_epoch))
		__atomic_store_n(&act->action->results_kept, 1, __ATOMIC_RELAXED);
}

static void on_primitive_done(struct invocation *inv, void *data)
{
	keep_result(data, inv);
	activation_ended(data, &inv->record);
}

static void on_cached_answer(struct loop *loop, void *data)
{
	activation_ended(data, &((struct activation *)data)->cached_record);
}

/* Answered from the cache: no run. The record is spooled now, as every record is before
 * its answer, and the listener hears it at the end of this loop turn (never before
 * activation_start returns). */
static int start_cached(struct activation *act, const struct activation_spec *spec, int status,
			const json_t *result, const struct result_value *v, uint64_t began_ms,
			struct activation_refusal *why)
{
	activation_id_new(act->id);
	if (cached_result_record(spec->action, &act->who, act->id, status, result,
				 v ? v->data : NULL, v ? v->len : 0, began_ms, clock_real_ms(),
				 &act->cached_record)) {
		refuse(why, 500, 0, "Internal Server Error");
		return -ENOMEM;
	}
	loop_defer(act->w->loop, &act->answer, on_cached_answer, act);
	worker_spool(act->w, &act->cached_record);
	STAT_INC(act->w, errors[status & 3]);
	return 0;
}

/* The response cache for an invoke of a primitive: an answer when it holds one for these
 * merged parameters (the adapter's, for a web action). 1: answered (params consumed);
 * 0: run it; or a negative errno from start_cached. */
static int answer_from_cache(struct activation *act, const struct activation_spec *spec,
			     json_t *params, struct activation_refusal *why)
{
	struct result_cache *rc = act->w->node->results;
	uint64_t began_ms = clock_real_ms();
	struct result_value *v = NULL;
	int err;

	if (spec->cached) {
		json_decref(params);
		err = start_cached(act, spec,
				   (int)json_integer_value(json_object_get(spec->cached, "statusCode")),
				   json_object_get(spec->cached, "result") ?: json_null(), NULL,
				   began_ms, why);
		return err ?: 1;
	}
	if (!rc || spec->action->xkind == XW_KIND_SEQUENCE || json_is_array(params))
		return 0;
	/* Read before the run: a result computed across an invalidation is not kept. */
	act->cache_epoch = result_cache_epoch(rc);
	act->cache_store = spec->cache_store;
	/* An action that never asked pays for no digest of its parameters. */
	if (!spec->cache_read || !__atomic_load_n(&spec->action->results_kept, __ATOMIC_RELAXED) ||
	    cached_result_key(spec->action, params, act->cache_key))
		return 0;
	act->cache_keyed = true;
	v = result_cache_get(rc, act->cache_key, began_ms);
	result_cache_count(rc, v != NULL);
	if (!v)
		return 0;
	json_decref(params);
	/* The cache keeps the result as compact JSON: it goes into the record as it is. */
	err = start_cached(act, spec, ACTIVATION_SUCCESS, NULL, v, began_ms, why);
	result_value_unref(v);
	return err ?: 1;
}

static void on_sequence_done(struct record *record, void *data)
{
	activation_ended(data, record);
}

/* What the record says if the node stops before the activation ends. */
static void write_acceptance(struct activation *act)
{
	struct record fallback = { 0 };
	int err = record_interrupted(act->action, &act->who, act->id, clock_real_ms(),
				     act->action->xkind == XW_KIND_SEQUENCE ? "sequence" : NULL, &fallback);

	worker_accept(act->w, act->id, err ? NULL : &fallback);
	record_clear(&fallback);
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

	/* Nothing to merge into (most actions): the request's own object, not a copy. */
	if (spec->params_mode == PARAMS_AS_IS || json_is_array(params) ||
	    !json_object_size(a->run_params))
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

	run = sequence_start(act->w, spec->action, &act->who, params, spec->tid, spec->cause,
			     spec->atomic, on_sequence_done, act);
	if (!run) {
		refuse(why, 500, 0, "The sequence could not be started.");
		return -ENOMEM;
	}
	str_copy(act->id, sizeof(act->id), sequence_activation_id(run));
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
	if (spec->cause)
		str_copy(inv->cause, sizeof(inv->cause), spec->cause);
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
	str_copy(act->id, sizeof(act->id), inv->activation_id);
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
	err = answer_from_cache(act, spec, params, why);
	if (err == 1) {
		str_copy(id, 33, act->id);
		return 0;
	}
	if (err) {
		activation_free(act);
		return err;
	}
	err = spec->action->xkind == XW_KIND_SEQUENCE ? start_sequence(act, spec, params, why)
						      : start_primitive(act, spec, params, why);
	if (err) {
		activation_free(act);
		return err;
	}
	/* From here on act lives until the activation ends, listener or not. */
	str_copy(id, 33, act->id);
	if (spec->wait_ms == ACTIVATION_NO_WAIT)
		write_acceptance(act);
	else if (spec->wait_ms != ACTIVATION_WAIT_END)
		act->wait = loop_timer_add(act->w->loop, spec->wait_ms, on_wait_over, act);
	return 0;
}
