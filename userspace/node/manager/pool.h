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
struct ctlclient;

/* cc: the manager thread's client of the controller. */
int pool_new(struct node *node, struct ctlclient *cc, struct pool **out);
void pool_free(struct pool *p);
/* Destroys every sandbox (stem cells too); 0 once their cleanup finished. */
int pool_destroy_all(struct pool *p, unsigned timeout_ms);

/* Manager thread: an event from the controller (sandbox allocations, state changes,
 * removals, lost nodes, resyncs). */
void pool_event(struct node *node, const json_t *event);
/* Manager thread: for the agent's registration and heartbeats. */
json_t *pool_own_sandboxes(struct node *node);
json_t *pool_heartbeat(struct node *node);
const char *pool_subnet(const struct node *node);
/* Activations' log segments the manager cut from sandboxes' pipes (not answered in band). */
uint64_t pool_pipe_segments(const struct node *node);
void pool_set_node_index(struct node *node, uint16_t index, const char *name);
/* The heartbeat's answer: own sandboxes the controller does not know. */
void pool_forget(struct node *node, const json_t *unknown);

#endif
