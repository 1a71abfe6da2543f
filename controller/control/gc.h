/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Garbage collection of sandboxes, mark and sweep: a warm sandbox idle past keep-alive is
 * marked draining (every node stops routing to it); an activation that still arrives
 * makes its node ask to unmark it; after the grace period, once its node reports it idle,
 * the sweep removes it. Under memory pressure a policy chooses victims among idle and
 * marked sandboxes (nothing running in them); the policy is an interface so it can be
 * swapped. Within a node victims go in gc_victim_order: fair between namespaces.
 */
#ifndef XWHISK_GC_H
#define XWHISK_GC_H

#include <stddef.h>
#include <stdint.h>

struct cluster;
struct gsandbox;

struct gc_policy {
	const char *name;
	/* Chooses idle or marked sandboxes whose removal makes room for need_mb of memory and
	 * need_cpu of CPU on one node (the preferred node when it can). Fills victims and
	 * *node; returns how many, 0 when no choice frees enough. */
	size_t (*victims)(struct cluster *c, uint32_t need_mb, uint32_t need_cpu,
			  uint16_t prefer_node, struct gsandbox **victims, size_t max,
			  uint16_t *node);
};

/* Frees whole nodes first, so that free space stays compact (the default). */
extern const struct gc_policy gc_policy_compact;
/* The least recently used idle sandboxes of the node that frees enough soonest. */
extern const struct gc_policy gc_policy_lru;
const struct gc_policy *gc_policy_by_name(const char *name);

/* Orders a node's evictable sandboxes (at most 256) as they are given up under memory
 * pressure: marked ones first; then one at a time from the namespace that holds the most
 * evictable memory among those left, least recently used first within it. */
void gc_victim_order(struct gsandbox **list, size_t k);

/* Marks idle sandboxes and sweeps marked ones whose grace period is over. */
void gc_tick(struct cluster *c);

#endif
