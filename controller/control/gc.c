// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "gc.h"
#include "log.h"

#define MAX_VICTIMS 256

static bool idle(const struct gsandbox *s)
{
	return s->state == GS_WARM && !s->inflight;
}

static uint32_t node_free_mb(const struct cnode *n)
{
	return n->memory_mb > n->used_memory_mb ? n->memory_mb - n->used_memory_mb : 0;
}

static uint32_t node_free_cpu(const struct cnode *n)
{
	return n->cpu_milli > n->used_cpu_milli ? n->cpu_milli - n->used_cpu_milli : 0;
}

/* What memory pressure may take: a sandbox with nothing running, warm or already marked. */
static bool evictable(const struct gsandbox *s)
{
	return (s->state == GS_WARM || s->state == GS_DRAINING) && !s->inflight;
}

/* Which of two candidates goes first: a marked one (it was going anyway), then the one of
 * the namespace holding more evictable memory, then the least recently used. */
static bool goes_before(const struct gsandbox *a, uint64_t a_mb, const struct gsandbox *b,
			uint64_t b_mb)
{
	if ((a->state == GS_DRAINING) != (b->state == GS_DRAINING))
		return a->state == GS_DRAINING;
	if (a_mb != b_mb)
		return a_mb > b_mb;
	return a->last_used_ms < b->last_used_ms;
}

static void swap_victims(struct gsandbox **list, uint64_t *mb, size_t i, size_t j)
{
	struct gsandbox *s = list[i];
	uint64_t m = mb[i];

	list[i] = list[j];
	list[j] = s;
	mb[i] = mb[j];
	mb[j] = m;
}

void gc_victim_order(struct gsandbox **list, size_t k)
{
	uint64_t mb[MAX_VICTIMS]; /* what list[i]'s namespace still holds among the rest */

	if (k > MAX_VICTIMS)
		k = MAX_VICTIMS;
	for (size_t i = 0; i < k; i++) {
		mb[i] = 0;
		for (size_t j = 0; j < k; j++)
			if (!strcmp(list[j]->subject, list[i]->subject))
				mb[i] += list[j]->memory_mb;
	}
	/* Selection, recounting after every pick: the namespace holding the most gives one
	 * sandbox at a time, so a tenant keeps its share while a bigger holder gives. */
	for (size_t i = 0; i < k; i++) {
		size_t best = i;

		for (size_t j = i + 1; j < k; j++)
			if (goes_before(list[j], mb[j], list[best], mb[best]))
				best = j;
		swap_victims(list, mb, i, best);
		for (size_t j = i + 1; j < k; j++)
			if (!strcmp(list[j]->subject, list[i]->subject))
				mb[j] -= list[i]->memory_mb;
	}
}

/* Evictable sandboxes of node n in the order they are given up (gc_victim_order). */
static size_t node_idle(struct cluster *c, uint16_t n, struct gsandbox **out, size_t max)
{
	size_t k = 0;

	for (struct gsandbox *s = c->sandboxes; s && k < max; s = s->next)
		if (s->node == n && evictable(s))
			out[k++] = s;
	gc_victim_order(out, k);
	return k;
}

/* How many of node n's evictable sandboxes (in order) must go for the request to fit;
 * 0 when it fits already, (size_t)-1 when even all of them are not enough. */
static size_t needed(struct cnode *node, struct gsandbox **idle_list, size_t k, uint32_t need_mb,
		     uint32_t need_cpu)
{
	uint32_t mb = node_free_mb(node), cpu = node_free_cpu(node);
	size_t i = 0;

	while ((mb < need_mb || cpu < need_cpu) && i < k) {
		mb += idle_list[i]->memory_mb;
		cpu += idle_list[i]->cpu_milli;
		i++;
	}
	return mb >= need_mb && cpu >= need_cpu ? i : (size_t)-1;
}

/* A policy's preference among the nodes that can make room by removing the first m of
 * their evictable sandboxes (gc_victim_order): lowest first. */
typedef uint64_t (*victim_score)(const struct cnode *n, struct gsandbox *const *idle_list,
				 size_t m, bool preferred);

static size_t pick_victims(struct cluster *c, uint32_t need_mb, uint32_t need_cpu,
			   uint16_t prefer_node, struct gsandbox **victims, size_t max,
			   uint16_t *node, victim_score score_of)
{
	struct gsandbox *list[MAX_VICTIMS];
	uint64_t best_score = UINT64_MAX;
	size_t best_n = 0;
	uint16_t best = 0;

	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		struct cnode *n = c->nodes[i];
		size_t k, m;
		uint64_t score;

		/* Room on a node the requester cannot reach helps nobody. */
		if (!n || n->lost || !cluster_node_reaches(c, prefer_node, (uint16_t)i))
			continue;
		k = node_idle(c, (uint16_t)i, list, MAX_VICTIMS);
		m = needed(n, list, k, need_mb, need_cpu);
		if (m == (size_t)-1 || m > max)
			continue;
		score = score_of(n, list, m, i == prefer_node);
		if (score < best_score) {
			best_score = score;
			best = (uint16_t)i;
			best_n = m;
		}
	}
	if (!best)
		return 0;
	node_idle(c, best, list, MAX_VICTIMS);
	memcpy(victims, list, best_n * sizeof(*victims));
	*node = best;
	return best_n;
}

/* Fewest victims; the preferred node breaks ties. */
static uint64_t lru_score(const struct cnode *n, struct gsandbox *const *idle_list, size_t m,
			  bool preferred)
{
	return ((uint64_t)m << 1) | !preferred;
}

/* Whole nodes first: the node whose sandboxes are all idle empties, and the free space of
 * the cluster stays in one piece; then the one left with the least used memory, then
 * fewer victims; the preferred node breaks ties. */
static uint64_t compact_score(const struct cnode *n, struct gsandbox *const *idle_list,
			      size_t m, bool preferred)
{
	uint32_t freed = 0, left;

	for (size_t j = 0; j < m; j++)
		freed += idle_list[j]->memory_mb;
	left = n->used_memory_mb > freed ? n->used_memory_mb - freed : 0;
	return ((uint64_t)left << 24) | ((uint64_t)m << 1) | !preferred;
}

static size_t lru_victims(struct cluster *c, uint32_t need_mb, uint32_t need_cpu,
			  uint16_t prefer_node, struct gsandbox **victims, size_t max,
			  uint16_t *node)
{
	return pick_victims(c, need_mb, need_cpu, prefer_node, victims, max, node, lru_score);
}

static size_t compact_victims(struct cluster *c, uint32_t need_mb, uint32_t need_cpu,
			      uint16_t prefer_node, struct gsandbox **victims, size_t max,
			      uint16_t *node)
{
	return pick_victims(c, need_mb, need_cpu, prefer_node, victims, max, node,
			    compact_score);
}

const struct gc_policy gc_policy_compact = { "compact", compact_victims };
const struct gc_policy gc_policy_lru = { "lru", lru_victims };

const struct gc_policy *gc_policy_by_name(const char *name)
{
	if (!name || !strcmp(name, "compact"))
		return &gc_policy_compact;
	if (!strcmp(name, "lru"))
		return &gc_policy_lru;
	return NULL;
}

void gc_tick(struct cluster *c)
{
	uint64_t now = loop_now_ms(c->loop), keep = (uint64_t)c->cfg.keepalive_s * 1000;
	struct gsandbox *s, *next;

	for (s = c->sandboxes; s; s = next) {
		next = s->next;
		if (idle(s) && now - s->last_used_ms > keep) {
			s->state = GS_DRAINING;
			s->marked_ms = now;
			s->reported_idle_since_mark = false;
			c->marked++;
			publish_sandbox(c, s, "draining");
		} else if (s->state == GS_DRAINING && now - s->marked_ms >= c->cfg.grace_ms &&
			   (s->reported_idle_since_mark || now - s->marked_ms > 10 * c->cfg.grace_ms)) {
			/* Its node saw it idle after the mark: nothing is routed to it any more. */
			c->swept++;
			cluster_remove(c, s, "idle");
		}
	}
}
