/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control plane's state: the nodes of the cluster and the global pool of sandboxes.
 *
 * Nodes register with their capacity (memory, CPU, optional GPUs), heartbeat with what
 * their sandboxes are doing, and are declared lost when they stop; a lost node's
 * sandboxes are removed. Every sandbox of the cluster is in the pool with its node,
 * action, revision, address, state (starting, warm, draining, removed), resources and
 * last use. Every change is an event (events.h) that nodes apply to their BPF maps.
 */
#ifndef XWHISK_CLUSTER_H
#define XWHISK_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "events.h"
#include "loop.h"

#define CLUSTER_MAX_NODES 1024
#define SANDBOX_ID_CHARS 32

struct cnode {
	uint16_t idx;       /* 1...: what slots call the node; 0 is "this node" there */
	char name[64];
	char address[64];   /* its ingress, host:port */
	char subnet[32];    /* its sandboxes' addresses, for routes between nodes */
	uint32_t memory_mb, cpu_milli, gpus;           /* declared capacity */
	uint32_t used_memory_mb, used_cpu_milli, used_gpus; /* allocated here */
	uint64_t last_heard_ms;
	bool lost;
	bool rejoin;        /* must register again (with its sandboxes) before heartbeats count */
	json_t *stem_cells; /* {"kind": count} from its last heartbeat */
};

enum gsandbox_state { GS_STARTING, GS_WARM, GS_DRAINING, GS_REMOVED };

struct gsandbox {
	char id[SANDBOX_ID_CHARS + 1];
	uint16_t node;
	char action_id[17]; /* hex, as nodes compute it */
	char subject[257];
	char docid[800];
	int64_t revision;
	char kind[128];
	uint32_t memory_mb, cpu_milli, gpus, concurrency;
	char addr[48];
	uint16_t port;
	enum gsandbox_state state;
	uint64_t created_ms, last_used_ms, marked_ms;
	uint32_t inflight;  /* as its node last reported */
	bool reported_idle_since_mark;
	struct gsandbox *next, *prev;
	struct gsandbox *hnext; /* in the id index */
};

#define CLUSTER_ID_BUCKETS 16384

/* Where sandboxes run when it is not on the node agents (the pod backend, pods.h): told
 * of nodes, allocations and removals, and it says which nodes take sandboxes. Every
 * member is optional. */
struct cluster_hooks {
	void (*registered)(void *data, struct cnode *n);
	void (*allocated)(void *data, struct gsandbox *s);
	void (*removed)(void *data, struct gsandbox *s);
	bool (*placeable)(void *data, const struct cnode *n);
	/* the node whose sandboxes count as local for a request from node idx */
	uint16_t (*locality)(void *data, uint16_t idx);
	void *data;
};

struct gc_policy;

struct cluster_config {
	unsigned keepalive_s;   /* idle time before a sandbox is marked (XWHISK_KEEPALIVE_S) */
	unsigned grace_ms;      /* between mark and sweep */
	unsigned node_lost_ms;  /* silence before a node is lost */
	unsigned start_timeout_ms; /* a sandbox starting longer than this is given up */
	const struct gc_policy *policy;
};

struct cluster {
	struct loop *loop;
	struct event_log *events;
	struct cluster_config cfg;
	struct cnode *nodes[CLUSTER_MAX_NODES + 1]; /* by index */
	struct gsandbox *sandboxes;
	struct gsandbox *by_id[CLUSTER_ID_BUCKETS];
	size_t nsandboxes;
	struct loop_timer *tick;
	uint64_t tick_due_ms; /* when the pending tick should run: a later one finds the loop was away */
	struct cluster_hooks hooks;
	/* another controller leads (leader.h): no allocation, GC or node loss here */
	bool standby;
	uint64_t placements, placement_failures, marked, swept, lost_nodes;
};

struct cluster *cluster_new(struct loop *loop, struct event_log *events,
			    const struct cluster_config *cfg);
void cluster_free(struct cluster *c);

/* This controller leads from now on: the nodes it knows get node_lost_ms to reach it and
 * must register again, so that their lists of sandboxes (adopt_listed) correct what it
 * learned while another controller led. */
void cluster_lead(struct cluster *c);
/* Another controller may lead now: allocations and heartbeats answer 503 here. */
void cluster_step_down(struct cluster *c);

/* Registers (or re-registers) a node from its JSON; returns it or NULL with a message. */
struct cnode *cluster_register(struct cluster *c, const json_t *body, const char **why);
/* A "sandbox" event {op, sandbox} for every node. */
void publish_sandbox(struct cluster *c, struct gsandbox *s, const char *op);
struct cnode *cluster_node_by_name(struct cluster *c, const char *name);
/* Node from can route to node to's sandboxes: the same node, or sandbox subnets that do
 * not overlap (an overlapping one is its own bridge's). from 0 (no requester): true. */
bool cluster_node_reaches(const struct cluster *c, uint16_t from, uint16_t to);
/* A heartbeat: per-sandbox in-flight and last use, stem cells. Ids the pool does not
 * hold go into unknown (when not NULL): the node removes those. */
int cluster_heartbeat(struct cluster *c, struct cnode *n, const json_t *body, json_t *unknown,
		      const char **why);

struct gsandbox *cluster_sandbox(struct cluster *c, const char *id);
/* The owner reports a state: "warm" (with addr, port) or "failed"/"removed". */
int cluster_sandbox_report(struct cluster *c, struct cnode *n, struct gsandbox *s,
			   const json_t *body, const char **why);
/* An activation arrived for a draining sandbox: back to warm if it still can. */
int cluster_unmark(struct cluster *c, struct gsandbox *s);
/* Adds a new sandbox to the pool (list and index). */
void cluster_add(struct cluster *c, struct gsandbox *s);
/* Removes a sandbox from the pool (and frees its node's resources) with an event. */
void cluster_remove(struct cluster *c, struct gsandbox *s, const char *why);

/* The pool as JSON (a resync). */
json_t *cluster_pool_json(struct cluster *c);
json_t *cluster_sandbox_json(const struct gsandbox *s);
/* 1 - largest free block / total free memory over live nodes (0: perfectly compact). */
double cluster_fragmentation(struct cluster *c);
void cluster_free_memory(struct cluster *c, uint64_t *total_free, uint64_t *largest_free);

#endif
