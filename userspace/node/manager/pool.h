/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sandboxes a node routes to, owned by the manager thread. Its own: cold starts (a
 * stem cell from the local sandbox backend, then /init), publication in the "slots" and
 * "warm" maps once warm, log collection, removal of broken ones. Other nodes': slots made
 * from the controller's event stream. Where a new sandbox goes, and when an idle one goes
 * away, is the controller's decision (allocator, GC); pool_cluster.c speaks with it.
 * Workers talk to the pool through the functions below, which any thread may call.
 */
#ifndef XWHISK_POOL_H
#define XWHISK_POOL_H

#include <jansson.h>
#include <stdint.h>

#include "node/activation/action_cache.h"
#include "node/node.h"

struct pool;
struct worker;

struct ctlclient;

/* cc: the manager thread's client of the controller. */
int pool_new(struct node *node, struct ctlclient *cc, struct pool **out);
void pool_free(struct pool *p);
/* Destroys every sandbox (stem cells too); 0 once their cleanup finished. */
int pool_destroy_all(struct pool *p, unsigned timeout_ms);

/* A worker has `waiting` activations of action queued. The first waiting activation's ids
 * go into /init's environment, as OpenWhisk's cold starts do. */
void pool_need(struct node *node, struct action_entry *action, unsigned worker,
	       unsigned waiting, const char *activation_id, const char *tid, const char *api_key);
/* Manager thread: an event from the controller (sandbox allocations, state changes,
 * removals, lost nodes, resyncs). */
void pool_event(struct node *node, const json_t *event);
/* Manager thread: for the agent's registration and heartbeats. */
json_t *pool_own_sandboxes(struct node *node);
json_t *pool_heartbeat(struct node *node);
const char *pool_subnet(const struct node *node);
void pool_set_node_index(struct node *node, uint16_t index, const char *name);
/* The heartbeat's answer: own sandboxes the controller does not know. */
void pool_forget(struct node *node, const json_t *unknown);

/* The sandbox in slot (of generation) failed an activation (timeout, crash): remove it. */
void pool_broken(struct node *node, uint32_t slot, uint32_t generation, const char *why);

/* The logs of the activation that just ended in slot: cb runs on w's loop with an array of
 * OpenWhisk log lines (a new reference), or NULL when none were collected. Segments that
 * ended before since_ns (wall clock, when its /run was sent) are skipped as not its own.
 * When they are already read (the usual case: a runtime writes its sentinels before it
 * answers /run), cb runs before pool_logs returns. */
typedef void (*pool_logs_cb)(json_t *logs, void *data);
void pool_logs(struct node *node, struct worker *w, uint32_t slot, uint32_t generation,
	       uint64_t since_ns, uint64_t limit_bytes, pool_logs_cb cb, void *data);
/* Why the sandbox in slot died, when it did ("oom", "exit", ...), else NULL. */
const char *pool_death_reason(struct node *node, uint32_t slot, uint32_t generation);

#endif
