/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A namespace's limits cut into per-node shares (cluster-wide limits): the arithmetic,
 * shared by the controller, which splits each limit among the live nodes, and the node,
 * which falls back to an even share when its lease has expired. No state, no clock.
 */
#ifndef XWHISK_BUDGET_H
#define XWHISK_BUDGET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The limits a namespace has, in the order they travel in JSON arrays. */
enum budget_kind {
	BUDGET_INVOCATIONS = 0, /* invocations per minute */
	BUDGET_CONCURRENT,      /* concurrent invocations */
	BUDGET_FIRES,           /* trigger fires per minute */
	BUDGET_KINDS,
};

/* One node's claim on a limit. */
struct budget_claim {
	uint32_t used;   /* units it holds already: in flight, or admitted this minute */
	uint32_t demand; /* units it would take: used plus what it turned away */
};

/*
 * Splits limit among n nodes into share[]. A node keeps what it already used (nothing can
 * be taken back); then every node gets at least 1 while room lasts (so an idle node can
 * admit the request that shows its demand); the rest goes toward unmet demand, max-min
 * fair (no node gets more than it asks while another gets less than it asks); what no
 * one asks for is spread evenly. The shares sum to limit unless the nodes used more.
 */
void budget_split(uint32_t limit, size_t n, const struct budget_claim *claims, uint32_t *share);

/* What a node without a lease enforces: limit / nodes, at least 1 (0 when limit is 0);
 * the whole limit on a single node or before it knows how many nodes there are (0). */
uint32_t budget_fallback(uint32_t limit, uint32_t nodes);

/* What a node may be granted now: its target, but no more than the other nodes' shares
 * (which they hold until they hear of smaller ones) leave of limit. */
uint32_t budget_grant(uint32_t limit, uint32_t target, uint64_t others_held);

/* One count per kind as they travel: a JSON array of BUDGET_KINDS non-negative 32-bit
 * integers. parse: false unless a is one. */
json_t *budget_kinds_json(const uint32_t v[BUDGET_KINDS]);
bool budget_kinds_parse(const json_t *a, uint32_t out[BUDGET_KINDS]);

#endif
