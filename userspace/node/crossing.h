/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Everything that crosses between a worker thread (ingress and activations) and the
 * manager thread (sandboxes, the cluster, the shipper), in one place. Workers never touch
 * the manager's structures: they post a message (node_post) and hear back through their
 * own mailbox; the only shared memory is the BPF maps (atomics), the action cache and the
 * per-slot log lists (each under its lock).
 */
#ifndef XWHISK_CROSSING_H
#define XWHISK_CROSSING_H

#include <jansson.h>
#include <stdint.h>

#include "mailbox.h"
#include "node/activation/action_cache.h"

struct node;
struct worker;
struct shipper;

/* ---- worker -> manager ---- */

/* Runs fn(arg) on the manager thread. */
int node_post(struct node *node, mailbox_fn fn, void *arg);

/* A worker has `waiting` activations of action queued. The first waiting activation's ids
 * go into /init's environment, as OpenWhisk's cold starts do. */
void pool_need(struct node *node, struct action_entry *action, unsigned worker,
	       unsigned waiting, const char *activation_id, const char *tid, const char *api_key);

/* The sandbox in slot (of generation) failed an activation (timeout, crash): remove it.
 * why POOL_NO_ANSWER (its runtime went without an answer) gives it a moment to end by
 * itself first, so that its end tells why (pool_death_reason) by the time the logs the
 * activation asked for (pool_logs) are handed over. */
void pool_broken(struct node *node, uint32_t slot, uint32_t generation, const char *why);
#define POOL_NO_ANSWER "no answer"

/* The logs of the activation that just ended in slot: cb runs on w's loop with an array of
 * OpenWhisk log lines (a new reference), or NULL when none were collected. Segments that
 * ended before since_ns (wall clock, when its /run was sent) are skipped as not its own.
 * When they are already read (the usual case: a runtime writes its sentinels before it
 * answers /run), cb runs before pool_logs returns. */
typedef void (*pool_logs_cb)(json_t *logs, void *data);
void pool_logs(struct node *node, struct worker *w, uint32_t slot, uint32_t generation,
	       uint64_t since_ns, uint64_t limit_bytes, pool_logs_cb cb, void *data);

/* Why the sandbox in slot died, when it did ("oom", "exit", "killed": from outside, the
 * platform's failure), else NULL. */
const char *pool_death_reason(struct node *node, uint32_t slot, uint32_t generation);
/* The record's text when the platform killed a sandbox (a whisk internal error). */
#define SANDBOX_KILLED_MSG "The action's sandbox was stopped by the platform."

/* Thread-safe: there is something new to ship. */
void shipper_nudge(struct shipper *s);

/* ---- manager -> worker ---- */

/* From the manager (run on the worker's loop through its mailbox). */
struct warm_news {
	struct worker *w;
	uint64_t action_id;
	int status;      /* 0: a sandbox is warm; else the activation status of the failure */
	char *message;   /* the failure's result text (or a JSON value) */
	json_t *error;   /* the failure's result, when the runtime gave one */
	json_t *logs;    /* what a failed /init printed, for the first activation it fails */
	uint64_t init_ms;
};
void worker_on_warm_news(void *arg);

#endif
