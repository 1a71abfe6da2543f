// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/activation/invocation.h"
#include "node/activation/pipeline.h"
#include "node/ingress/invoke.h"
#include "json.h"
#include "log.h"
#include "node/ingress/metrics.h"
#include "node/activation/record.h"
#include "node/activation/resolve.h"
#include "node/activation/sequence.h"
#include "util.h"
#include "node/ingress/worker.h"

struct sequence_run {
	struct worker *w;
	struct action_entry *action;
	struct identity who;
	char id[33];
	char tid[72];
	char cause[33];
	json_t *payload;     /* the next component's input */
	size_t next;         /* index of the next component */
	json_t *logs;        /* component activation ids */
	uint64_t duration;   /* the sum of the components' */
	uint64_t start_ms; /* as it was received: a sequence waits for nothing */
	uint32_t max_memory;
	int status;
	json_t *result;
	unsigned *atomic;    /* atomic actions run so far, shared by nested sequences */
	unsigned atomic_storage;
	sequence_done done;
	void *done_data;
};

static void sequence_step(struct sequence_run *run);

static void run_free(struct sequence_run *run)
{
	action_entry_unref(run->action);
	json_decref(run->payload);
	json_decref(run->logs);
	json_decref(run->result);
	free(run);
}

static json_t *sequence_record(struct sequence_run *run, uint64_t end)
{
	const struct action_entry *a = run->action;
	/* The kind and limits of a sequence's record are its own, not its first component's. */
	json_t *anns = json_array(), *resp, *rec, *limits;

	json_array_append_new(anns, json_pack("{s:s,s:s%}", "key", "path", "value", a->fqn + 1,
					      strlen(a->fqn + 1)));
	json_array_append_new(anns, json_pack("{s:s,s:s}", "key", "kind", "value", "sequence"));
	json_array_append_new(anns, json_pack("{s:s,s:b}", "key", "topmost", "value",
					      !run->cause[0]));
	if (run->cause[0])
		json_array_append_new(anns, json_pack("{s:s,s:s}", "key", "causedBy", "value",
						      "sequence"));
	json_array_append_new(anns, json_pack("{s:s,s:I}", "key", "waitTime", "value",
					      (json_int_t)0));
	if (a->binding)
		json_array_append_new(anns, json_pack("{s:s,s:s}", "key", "binding", "value",
						      a->binding));
	if (json_array_size(run->logs)) {
		limits = json_pack("{s:I,s:I,s:I,s:i}", "timeout", (json_int_t)a->timeout_ms,
				   "memory", (json_int_t)run->max_memory, "logs",
				   (json_int_t)a->logs_mb, "concurrency", 1);
		json_array_append_new(anns, json_pack("{s:s,s:o}", "key", "limits", "value",
						      limits));
	}
	resp = json_pack("{s:i,s:o}", "statusCode", run->status, "result",
			 json_ref_or_object(run->result));
	rec = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:O,s:o,s:s,s:b}", "namespace",
			run->who.ns, "name", a->name, "subject", run->who.ns, "activationId", run->id,
			"start", (json_int_t)run->start_ms, "end", (json_int_t)end, "duration",
			(json_int_t)run->duration, "response", resp, "logs", run->logs,
			"annotations", anns, "version", a->version, "publish", false);
	if (run->cause[0])
		json_object_set_new(rec, "cause", json_string(run->cause));
	return rec;
}

static void sequence_finish(struct sequence_run *run)
{
	struct worker *w = run->w;
	json_t *tree = sequence_record(run, clock_real_ms());
	struct record rec = { 0 };
	int err = tree ? record_from_tree(tree, &rec) : -ENOMEM;

	json_decref(tree);
	worker_spool(w, err ? NULL : &rec);
	if (run->done)
		run->done(&rec, run->done_data);
	record_clear(&rec);
	run_free(run);
}

static void sequence_fail(struct sequence_run *run, int status, const char *message)
{
	run->status = status;
	json_decref(run->result);
	run->result = record_error(message);
	sequence_finish(run);
}

/* A component ended with this record: take its result and go on (or stop). */
static void component_ended(struct sequence_run *run, struct record *record)
{
	json_t *result = (json_t *)record_result(record);

	json_array_append_new(run->logs, json_string(record->activation_id));
	run->duration += record->duration_ms;
	run->status = record->status;
	json_decref(run->result);
	run->result = json_ref_or_object(result);
	if (json_is_object(result) && json_object_get(result, "error")) {
		sequence_finish(run);
		return;
	}
	json_decref(run->payload);
	run->payload = json_is_object(result) || json_is_array(result) ? json_incref(result)
									: json_object();
	run->next++;
	sequence_step(run);
}

static void on_step_done(struct record *record, void *data)
{
	component_ended(data, record);
}

static void on_component(int status, struct action_entry *a, const char *message, void *data)
{
	struct sequence_run *run = data;
	struct activation_refusal why;
	struct activation *act;
	char id[33];

	if (status == 403 || status == 404 || status == 409) {
		sequence_fail(run, ACTIVATION_APPLICATION_ERROR, "Sequence component does not exist.");
		return;
	}
	if (status) {
		sequence_fail(run, ACTIVATION_WHISK_ERROR, "Sequence failed.");
		return;
	}
	if (a->memory_mb > run->max_memory)
		run->max_memory = a->memory_mb;
	/* A step runs on the sequence's throttle unit; an array result goes on as it is. */
	act = activation_admit(run->w, &run->who, false, &why);
	if (!act || activation_start(act,
				     &(struct activation_spec){
					     .action = a,
					     .tid = run->tid,
					     .params = json_incref(run->payload),
					     .params_mode = PARAMS_MERGE,
					     .cause = run->id,
					     .atomic = run->atomic,
					     .wait_ms = ACTIVATION_WAIT_END,
					     .listener = on_step_done,
					     .data = run,
				     },
				     id, &why)) {
		action_entry_unref(a);
		sequence_fail(run, why.status == 400 ? ACTIVATION_APPLICATION_ERROR
						     : ACTIVATION_WHISK_ERROR,
			      why.status == 400 ? why.message : "Sequence failed.");
		return;
	}
	action_entry_unref(a);
}

static void sequence_step(struct sequence_run *run)
{
	json_t *c = json_array_get(run->action->components, run->next);
	char name[800];

	if (!c) {
		sequence_finish(run);
		return;
	}
	snprintf(name, sizeof(name), "%s", json_string_value(c) ?: "");
	resolve_action(run->w, &run->who, name, on_component, run);
}

static void sequence_first_step(struct loop *loop, void *data)
{
	sequence_step(data);
}

struct sequence_run *sequence_start(struct worker *w, struct action_entry *sequence,
				    const struct identity *who, json_t *params, const char *tid,
				    const char *cause, unsigned *atomic, sequence_done done,
				    void *data)
{
	struct sequence_run *run = calloc(1, sizeof(*run));

	if (!run) {
		json_decref(params);
		return NULL;
	}
	run->w = w;
	action_entry_ref(sequence);
	run->action = sequence;
	run->who = *who;
	activation_id_new(run->id);
	snprintf(run->tid, sizeof(run->tid), "%s", tid);
	snprintf(run->cause, sizeof(run->cause), "%s", cause ? cause : "");
	/* The legacy "_actions" parameter names the components; it is not an input. */
	if (json_is_object(params))
		json_object_del(params, "_actions");
	run->payload = params ? params : json_object();
	run->logs = json_array();
	run->start_ms = clock_real_ms();
	run->atomic = atomic ? atomic : &run->atomic_storage;
	run->done = done;
	run->done_data = data;
	/* The first step may finish the run at once; the caller still needs the id. */
	if (!loop_timer_add(w->loop, 0, sequence_first_step, run)) {
		run_free(run);
		return NULL;
	}
	STAT_INC(w, invocations);
	return run;
}

const char *sequence_activation_id(const struct sequence_run *run)
{
	return run->id;
}
